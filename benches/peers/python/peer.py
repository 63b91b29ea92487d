"""B2 peer: HubSpot's official Python SDK (hubspot-api-client) doing the benchmark's work.

PEER_CALLS contact upserts by email (one contact per call, the SDK's batch upsert with one
input: HubSpot's v3 way to upsert by email) then PEER_CALLS single-sends, one after the other,
on one reused client, against HUBSPOT_BASE_URL with the static token HUBSPOT_TOKEN.
PEER_CALLS=0 imports the SDK, builds the clients and exits: the start-up cost.

The SDK's API objects are taken once and reused: each attribute access such as
`api.crm.contacts.batch_api` builds a new ApiClient with a new connection pool.
"""

import os
import sys

from hubspot import HubSpot
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInputUpsert,
    SimplePublicObjectBatchInputUpsert,
)
from hubspot.marketing.transactional import PublicSingleSendRequestEgg

EMAIL_ID = 1001


def main() -> int:
    try:
        base_url = os.environ["HUBSPOT_BASE_URL"].rstrip("/")
        token = os.environ["HUBSPOT_TOKEN"]
        calls = int(os.environ["PEER_CALLS"])
    except (KeyError, ValueError) as e:
        print(f"peer: bad environment: {e!r}", file=sys.stderr)
        return 2
    api = HubSpot(access_token=token, host=base_url)
    batch_api = api.crm.contacts.batch_api
    single_send_api = api.marketing.transactional.single_send_api
    for i in range(calls):
        email = f"peer{i}@example.com"
        body = BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id=email,
                    id_property="email",
                    properties={
                        "email": email,
                        "firstname": f"First{i}",
                        "lastname": f"Last{i}",
                    },
                )
            ]
        )
        result = batch_api.upsert(batch_input_simple_public_object_batch_input_upsert=body)
        if not result.results or not result.results[0].id:
            print(f"peer: upsert {i}: no id in the response", file=sys.stderr)
            return 1
    for i in range(calls):
        egg = PublicSingleSendRequestEgg(
            email_id=EMAIL_ID,
            message={"to": f"peer{i}@example.com", "sendId": f"peer-send-{i}"},
            contact_properties={"firstname": "Ada"},
        )
        status = single_send_api.send_email(public_single_send_request_egg=egg)
        if not status.status_id:
            print(f"peer: single-send {i}: no statusId in the response", file=sys.stderr)
            return 1
    print(f"ok {calls} upserts, {calls} sends")
    print(f"peak_rss_kib {peak_rss_kib()}")
    return 0


def peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM), in KiB; 0 where /proc is missing."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
