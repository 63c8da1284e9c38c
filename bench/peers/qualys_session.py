"""What a Qualys user's script for a gateway API starts with: a requests session holding a token from /auth/oidc.

Shared by the three gateway peer scripts (pci_scans.py uses PCI Merchant's own Basic account), which
`npm run bench` runs against the same simulator as the exporter, one request at a time, to compare
whole-process CPU and wall time (docs/benchmarks.md).
Configuration comes from the same environment variables the exporter reads.
"""
import os

import requests


def session() -> requests.Session:
    gateway = os.environ["QUALYS_GATEWAY_URL"]
    s = requests.Session()
    r = s.post(
        f"{gateway}/auth/oidc",
        headers={
            "clientId": os.environ["QUALYS_CLIENT_ID"],
            "clientSecret": os.environ["QUALYS_CLIENT_SECRET"],
        },
        timeout=60,
    )
    r.raise_for_status()
    s.headers["Authorization"] = f"Bearer {r.text.strip()}"
    s.headers["X-Requested-With"] = "python-peer"
    return s
