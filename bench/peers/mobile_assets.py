"""VMDR Mobile assets → gzip NDJSON, the way a user would script it (requests + xmltodict, gzip level 6).

Repeated elements are forced to lists, as the exporter's output contract has them.
"""
import gzip
import json
import os
from urllib.parse import urlsplit

import xmltodict

from qualys_session import session

s = session()
base = os.environ["QUALYS_GATEWAY_URL"]
url = f"{base}/sem/v1/assetList"
params = {"action": "list", "truncation_limit": os.environ.get("QUALYS_MOBILE_TRUNCATION_LIMIT", "1000")}
records = 0
with gzip.open(os.environ["PEER_OUT"], "wt", encoding="utf-8", compresslevel=6) as out:
    while url:
        r = s.get(url, params=params, headers={"Accept": "application/xml"}, timeout=60)
        r.raise_for_status()
        doc = xmltodict.parse(r.content, force_list=("ASSET", "DETECTION"))
        response = doc["ASSET_LIST_VM_DETECTION_OUTPUT"]["RESPONSE"]
        assets = (response.get("ASSET_LIST") or {}).get("ASSET", [])
        for asset in assets:
            out.write(json.dumps(asset) + "\n")
        records += len(assets)
        warning = response.get("WARNING")
        url, params = None, None
        if warning:
            # Only follow the link on our own host: the token must not go anywhere else.
            next_url = warning["URL"].strip()
            if urlsplit(next_url).netloc != urlsplit(base).netloc:
                raise SystemExit(f"refusing to follow {next_url}")
            url = next_url
print(json.dumps({"records": records}))
