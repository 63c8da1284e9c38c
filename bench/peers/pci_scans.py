"""PCI Merchant scans → gzip NDJSON, the way a user would script it (requests + json, gzip level 6).

PCI Merchant has its own accounts: HTTP Basic on every call, as its documentation's curl examples do.
"""
import gzip
import json
import os

import requests

s = requests.Session()
s.auth = (os.environ["QUALYS_PCI_USERNAME"], os.environ["QUALYS_PCI_PASSWORD"])
s.headers.update({"Accept": "application/json", "apiVersion": "V1", "X-Requested-With": "python-peer"})
base = os.environ["QUALYS_PCI_URL"]
limit = int(os.environ.get("QUALYS_PCI_PAGE_SIZE", "1000"))
records = 0
with gzip.open(os.environ["PEER_OUT"], "wt", encoding="utf-8", compresslevel=6) as out:
    offset = 1
    while True:
        r = s.get(f"{base}/pci/scan/list", params={"offset": offset, "limit": limit}, timeout=60)
        r.raise_for_status()
        data = r.json()["data"]
        scans = data["scanInfoList"]
        for scan in scans:
            out.write(json.dumps(scan) + "\n")
        records += len(scans)
        offset += len(scans)
        if not scans or offset > data["totalCount"]:
            break
print(json.dumps({"records": records}))
