"""Verify outbound webhooks with the Standard Webhooks reference library.

Usage: verify.py FILE, with the signing secret (whsec_...) in the environment
variable OUTBOUND_SECRET. FILE holds one JSON object per line:
{"headers": {"webhook-id": ..., "webhook-timestamp": ..., "webhook-signature": ...},
 "body": "<the raw body>"}.

Exits 0 when every delivery verifies (and a tampered copy of each does not),
non-zero otherwise, naming the first failure.
"""

import json
import os
import sys

from standardwebhooks import Webhook, WebhookVerificationError


def main() -> int:
    secret = os.environ["OUTBOUND_SECRET"]
    wh = Webhook(secret)
    n = 0
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            item = json.loads(line)
            headers, body = item["headers"], item["body"]
            try:
                parsed = wh.verify(body, headers)
            except WebhookVerificationError as e:
                print(f"delivery {headers.get('webhook-id')}: does not verify: {e}")
                return 1
            if "type" not in parsed or "data" not in parsed:
                print(f"delivery {headers.get('webhook-id')}: body lacks type/data")
                return 1
            try:
                wh.verify(body + " ", headers)
            except WebhookVerificationError:
                pass
            else:
                print(f"delivery {headers.get('webhook-id')}: a tampered body verified")
                return 1
            n += 1
    if n == 0:
        print("no deliveries to verify")
        return 1
    print(f"{n} deliveries verified with the standardwebhooks reference library")
    return 0


if __name__ == "__main__":
    sys.exit(main())
