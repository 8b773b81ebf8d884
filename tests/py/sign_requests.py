"""Talks to the ledger with an independent RFC 9421 implementation.

Python's `http-message-signatures` (with `cryptography` for ed25519) signs the requests;
none of the ledger's own signing code is involved. Each case is sent and its outcome
printed as one JSON object per line: {"case", "status", "code"}. The Rust test
`tests/signing_independent.rs` runs this script and checks outcomes and ledger state.

usage: sign_requests.py BASE_URL NETWORK_ID SEED_A_HEX SEED_B_HEX TO_ADDRESS
"""

import datetime
import json
import sys
import uuid

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from http_message_signatures import HTTPMessageSigner, algorithms
from http_message_signatures.resolvers import HTTPSignatureKeyResolver

REQUIRED = ("@method", "@path", "@query", "content-digest")


def address_of(private_key):
    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "0x" + raw.hex()


class FixedKey(HTTPSignatureKeyResolver):
    """Signs with one key whatever the keyid says (lets a case forge a keyid)."""

    def __init__(self, private_key):
        self.private_key = private_key

    def resolve_private_key(self, key_id):
        return self.private_key

    def resolve_public_key(self, key_id):
        return self.private_key.public_key()


def signed(base_url, path, body, key, key_id, tag, created=None, nonce=None,
           components=REQUIRED, query=""):
    """A prepared, signed POST; the caller may tamper with it before sending."""
    url = base_url + path + (("?" + query) if query else "")
    request = requests.Request(
        "POST", url, data=body, headers={"Content-Type": "application/json"}
    ).prepare()
    signer = HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=FixedKey(key))
    signer.sign(
        request,
        key_id=key_id,
        created=created or datetime.datetime.now(datetime.timezone.utc),
        nonce=nonce or uuid.uuid4().hex,
        tag=tag,
        label="sig1",
        include_alg=True,
        covered_component_ids=components,
        body=body,
    )
    return request


def outcome(case, response):
    code = None
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        code = response.json().get("code")
    body = response.json() if response.headers.get("content-type") == "application/json" else None
    print(json.dumps({"case": case, "status": response.status_code, "code": code, "body": body}), flush=True)


def main():
    base_url, network_id, seed_a, seed_b, to = sys.argv[1:6]
    key_a = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_a))
    key_b = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_b))
    a = address_of(key_a)
    session = requests.Session()

    def body(amount):
        return json.dumps({"to": to, "amount": amount}).encode()

    def send(case, request):
        outcome(case, session.send(request))

    # Accepted: the four required components.
    valid = signed(base_url, "/v1/transfers", body("1.5"), key_a, a, network_id)
    send("valid", valid)
    # Accepted: more components covered, all verified by the server.
    send("valid_more_components", signed(
        base_url, "/v1/transfers", body("0.25"), key_a, a, network_id,
        components=REQUIRED + ("@authority", "@target-uri", "content-type")))

    # The same request again: its nonce was used.
    send("replayed_nonce", valid)

    # Tampered body: the digest no longer matches.
    tampered = signed(base_url, "/v1/transfers", body("1"), key_a, a, network_id)
    tampered.body = body("1000")
    tampered.headers["Content-Length"] = str(len(tampered.body))
    send("tampered_body", tampered)

    # Tampered body with a recomputed digest: the signature covers the old digest.
    import base64
    import hashlib
    tampered = signed(base_url, "/v1/transfers", body("1"), key_a, a, network_id)
    tampered.body = body("1000")
    tampered.headers["Content-Length"] = str(len(tampered.body))
    tampered.headers["Content-Digest"] = "sha-256=:" + base64.b64encode(
        hashlib.sha256(tampered.body).digest()).decode() + ":"
    send("tampered_body_and_digest", tampered)

    # Tampered path: signed for the faucet, sent to transfers.
    tampered = signed(base_url, "/v1/faucet", body("1"), key_a, a, network_id)
    tampered.url = base_url + "/v1/transfers"
    send("tampered_path", tampered)

    # Tampered query: signed with a query string, sent without it.
    tampered = signed(base_url, "/v1/transfers", body("1"), key_a, a, network_id, query="memo=x")
    tampered.url = base_url + "/v1/transfers"
    send("tampered_query", tampered)

    # created 1000 s in the past, outside the ±300 s window.
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1000)
    send("stale_created", signed(base_url, "/v1/transfers", body("1"), key_a, a, network_id, created=old))
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1000)
    send("future_created", signed(base_url, "/v1/transfers", body("1"), key_a, a, network_id, created=future))

    # A signature made for another network.
    send("wrong_tag", signed(base_url, "/v1/transfers", body("1"), key_a, a, "wal-mainnet"))

    # Signed by B while claiming to be A.
    send("other_key", signed(base_url, "/v1/transfers", body("1"), key_b, a, network_id))

    # A required component left out.
    send("missing_component", signed(
        base_url, "/v1/transfers", body("1"), key_a, a, network_id,
        components=("@method", "@path", "content-digest")))

    # No signature at all.
    unsigned = requests.Request("POST", base_url + "/v1/transfers", data=body("1"),
                                headers={"Content-Type": "application/json"}).prepare()
    send("unsigned", unsigned)


if __name__ == "__main__":
    main()
