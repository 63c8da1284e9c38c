"""CertView certificates → gzip NDJSON, the way a user would script it (requests + json, gzip level 6)."""
import gzip
import json
import os

from qualys_session import session

s = session()
base = os.environ["QUALYS_GATEWAY_URL"]
size = int(os.environ.get("QUALYS_CERTVIEW_PAGE_SIZE", "200"))
records = 0
with gzip.open(os.environ["PEER_OUT"], "wt", encoding="utf-8", compresslevel=6) as out:
    page = 0
    while True:
        r = s.post(
            f"{base}/certview/v2/certificates",
            json={"pageNumber": page, "pageSize": size, "assetType": "ALL"},
            timeout=60,
        )
        r.raise_for_status()
        certs = r.json()
        if not certs:
            break
        for cert in certs:
            out.write(json.dumps(cert) + "\n")
        records += len(certs)
        page += 1
print(json.dumps({"records": records}))
