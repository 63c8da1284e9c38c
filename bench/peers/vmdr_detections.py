"""VMDR host detections → gzip NDJSON, the way a user would script it (requests + xmltodict, gzip level 6).

Host List Detection on the API server with the Qualys user over Basic, POSTed with the same parameters the
exporter sends; the WARNING URL's id_min continues the listing (as qualysdk does). Repeated elements are forced to
lists, as the exporter's output contract has them. Prints the hosts and detections written.
"""
import gzip
import json
import os
from urllib.parse import parse_qs, urlsplit

import requests
import xmltodict

api = os.environ["QUALYS_API_URL"]
s = requests.Session()
s.auth = (os.environ["QUALYS_USERNAME"], os.environ["QUALYS_PASSWORD"])
s.headers["X-Requested-With"] = "python-peer"
url = f"{api}/api/{os.environ.get('PEER_VMDR_VERSION', '5.0')}/fo/asset/host/vm/detection/"
params = {
    "action": "list",
    "output_format": "XML",
    "truncation_limit": os.environ.get("QUALYS_VMDR_TRUNCATION_LIMIT", "1000"),
    "status": "New,Active,Fixed,Re-Opened",
    "show_igs": "0",
    "include_ignored": "1",
    "include_disabled": "1",
    "show_results": "1",
    "show_qds": "1",
    "show_qds_factors": "0",
    "show_tags": "1",
    "show_asset_id": "1",
    "show_reopened_info": "1",
}
LISTS = ("HOST", "DETECTION", "TAG", "QDS_FACTOR", "ATTRIBUTE", "CLOUD_TAG")
hosts = detections = 0
id_min = None
with gzip.open(os.environ["PEER_OUT"], "wt", encoding="utf-8", compresslevel=6) as out:
    while True:
        data = dict(params, **({"id_min": id_min} if id_min else {}))
        r = s.post(url, data=data, headers={"Accept": "application/xml"}, timeout=900)
        r.raise_for_status()
        doc = xmltodict.parse(r.content, force_list=LISTS)
        response = doc["HOST_LIST_VM_DETECTION_OUTPUT"]["RESPONSE"]
        for host in (response.get("HOST_LIST") or {}).get("HOST", []):
            out.write(json.dumps(host) + "\n")
            hosts += 1
            detections += len(((host.get("DETECTION_LIST") or {}).get("DETECTION")) or [])
        warning = response.get("WARNING")
        if not warning:
            break
        id_min = parse_qs(urlsplit(warning["URL"].strip()).query)["id_min"][0]
print(json.dumps({"records": hosts, "detections": detections}))
