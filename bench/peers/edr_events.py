"""EDR events of a time window → gzip NDJSON, the way a user would script it (requests + json, gzip 6)."""
import gzip
import json
import os

from qualys_session import session

s = session()
base = os.environ["QUALYS_GATEWAY_URL"]
window = f"event.datetime:['{os.environ['PEER_EDR_FROM']}'..'{os.environ['PEER_EDR_TO']}']"
params = {"filter": window, "pageSize": os.environ.get("QUALYS_EDR_PAGE_SIZE", "1000")}
records = 0
with gzip.open(os.environ["PEER_OUT"], "wt", encoding="utf-8", compresslevel=6) as out:
    while True:
        r = s.get(f"{base}/ioc/events/scroll", params=params, timeout=60)
        r.raise_for_status()
        body = r.json()
        events = body.get("data") or []
        if not events:
            break
        for event in events:
            out.write(json.dumps(event) + "\n")
        records += len(events)
        params = {"scrollId": body["scrollId"]}
print(json.dumps({"records": records}))
