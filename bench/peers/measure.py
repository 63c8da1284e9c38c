"""Runs a peer script and prints its whole-process resource use as the last stdout line (JSON).

usage: python3 measure.py <peer.py>    (exit 3 when requests or xmltodict is missing, so the bench can skip)
"""
import json
import os
import resource
import runpy
import sys

try:
    import requests  # noqa: F401
    import xmltodict  # noqa: F401
except ImportError as err:
    print(f"peer skipped: {err}", file=sys.stderr)
    sys.exit(3)

script = sys.argv[1]
sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"cpuMs": (ru.ru_utime + ru.ru_stime) * 1000, "maxRssKb": ru.ru_maxrss}))
