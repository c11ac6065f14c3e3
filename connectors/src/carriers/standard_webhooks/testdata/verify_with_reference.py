#!/usr/bin/env python3
"""Verify one Standard Webhooks delivery with the official Python library
(`pip install standardwebhooks`), to cross-check orderhub's receiver.

Usage:
    verify_with_reference.py SECRET WEBHOOK_ID TIMESTAMP SIGNATURE BODY_FILE

SECRET is the `whsec_...` secret, TIMESTAMP the `webhook-timestamp` header
(Unix seconds, within 5 minutes of now or the library refuses it), SIGNATURE
the `webhook-signature` header (space-separated `v1,...` entries), BODY_FILE
the raw body bytes exactly as received. With SIGNATURE `-`, the script signs
the body itself and prints the header value it computed (useful to compare
with the Rust `standardwebhooks::Webhook::sign`).

Exit status 0 when the library accepts the delivery, 1 when it refuses it.
"""

import sys
from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main(argv):
    if len(argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    secret, msg_id, timestamp, signature, body_file = argv[1:]
    with open(body_file, "rb") as f:
        body = f.read()
    wh = Webhook(secret)
    if signature == "-":
        when = datetime.fromtimestamp(int(timestamp), tz=timezone.utc)
        signature = wh.sign(msg_id=msg_id, timestamp=when, data=body.decode("utf-8"))
        print(signature)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": signature,
    }
    try:
        wh.verify(body, headers)
    except WebhookVerificationError as e:
        print(f"refused: {e}")
        return 1
    print("verified")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
