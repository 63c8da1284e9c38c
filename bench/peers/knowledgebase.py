"""KnowledgeBase (details=All) → gzip NDJSON, the way a user would script it (requests + xmltodict, gzip 6)."""
import gzip
import json
import os

import requests
import xmltodict

api = os.environ["QUALYS_API_URL"]
s = requests.Session()
s.auth = (os.environ["QUALYS_USERNAME"], os.environ["QUALYS_PASSWORD"])
s.headers["X-Requested-With"] = "python-peer"
data = {
    "action": "list",
    "details": "All",
    "show_disabled_flag": "1",
    "show_supported_modules_info": "1",
    "show_pci_reasons": "1",
}
LISTS = ("VULN", "CVE", "BUGTRAQ", "VENDOR_REFERENCE", "SOFTWARE", "COMPLIANCE", "EXPLT_SRC", "EXPLT", "MW_SRC",
         "THREAT_INTEL", "SUPPORTED_MODULE", "PCI_REASON", "AUTH_TYPE")
r = s.post(f"{api}/api/4.0/fo/knowledge_base/vuln/", data=data, headers={"Accept": "application/xml"}, timeout=1800)
r.raise_for_status()
doc = xmltodict.parse(r.content, force_list=LISTS)
vulns = (doc["KNOWLEDGE_BASE_VULN_LIST_OUTPUT"]["RESPONSE"].get("VULN_LIST") or {}).get("VULN", [])
with gzip.open(os.environ["PEER_OUT"], "wt", encoding="utf-8", compresslevel=6) as out:
    for v in vulns:
        out.write(json.dumps(v) + "\n")
print(json.dumps({"records": len(vulns)}))
