"""`flow_time_ratio`: the full signed flow in process ÷ a fixed cryptographic floor.

The flow is what the server does for one archive: the handlers of `INIT_USER_ACTION` →
`COMPLETE_USER_ACTION` → `ARCHIVE_USER`, wired by the composition root to in-memory
storage, an Ed25519 `Key` credential and an EdDSA bearer token (a fresh token per flow:
the flow's three calls share it, so its signature is verified once). The client's work
(building bodies, signing the challenge) happens outside the timed part.

The floor is fixed whatever primitives the library picks, measured in the same run with
`cryptography` and `hmac` directly: one Ed25519 verify (the assertion), one Ed25519
verify of a bearer token's signing input, and one HMAC-SHA256 issue + verify (the
cheapest sound one-time token). Rounds interleave flow and floor. Goal: ≤ 1.3.
"""

from __future__ import annotations

import hmac
import json
import secrets
import statistics
import time
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from adapters.client.signer import KeySigner, init_body
from adapters.wiring.bootstrap import build
from adapters.wiring.operations import bootstrap_org, create_user
from archive_core.encoding import b64url_encode
from archive_core.entities import TokenKind, UserKind
from archive_core.requests import Headers, Request
from archive_core.use_cases import ARCHIVE_USER, COMPLETE_USER_ACTION, INIT_USER_ACTION
from benchmarks.timing import Figure

__all__ = ["GOAL", "run"]

GOAL = 1.3


def _floor_case() -> Any:
    assertion_key = ed25519.Ed25519PrivateKey.generate()
    bearer_key = ed25519.Ed25519PrivateKey.generate()
    client_data = json.dumps(
        {
            "type": "key.get",
            "challenge": b64url_encode(secrets.token_bytes(32)),
            "origin": "https://app.dfns.io",
            "crossOrigin": False,
        },
        separators=(",", ":"),
    ).encode()
    assertion_signature = assertion_key.sign(client_data)
    signing_input = secrets.token_urlsafe(300).encode()  # a JWT header.payload of the same size
    bearer_signature = bearer_key.sign(signing_input)
    assertion_public = assertion_key.public_key()
    bearer_public = bearer_key.public_key()
    secret = secrets.token_bytes(32)
    grant = secrets.token_bytes(200)

    def floor() -> None:
        assertion_public.verify(assertion_signature, client_data)
        bearer_public.verify(bearer_signature, signing_input)
        mac = hmac.digest(secret, grant, "sha256")
        if not hmac.compare_digest(hmac.digest(secret, grant, "sha256"), mac):
            raise AssertionError("hmac")

    return floor


class _Flows:
    """Prepared actors and targets; `one()` runs a flow and returns its server time."""

    def __init__(self, count: int) -> None:
        self.deployment = build(db_url="memory:")
        admin, _ = bootstrap_org(self.deployment, key_algorithm="ed25519")
        self.admin = admin
        org = admin.user.org_id
        self.targets = [
            create_user(self.deployment, org, f"target{i}@example.com", UserKind.END_USER).user.id
            for i in range(count)
        ]
        assert admin.private_key_pem is not None and admin.credential is not None
        self.signer = KeySigner(admin.credential.cred_id, admin.private_key_pem)
        endpoints = self.deployment.endpoints
        self.init = endpoints.handler(INIT_USER_ACTION)
        self.complete = endpoints.handler(COMPLETE_USER_ACTION)
        self.archive = endpoints.handler(ARCHIVE_USER)

    def one(self) -> float:
        target = self.targets.pop()
        deployment = self.deployment
        token = deployment.bearer_tokens.issue(
            self.admin.user,
            now=deployment.clock.now(),
            ttl=timedelta(hours=1),
            token_kind=TokenKind.LOGIN,
        )
        headers = Headers([("Authorization", f"Bearer {token}")])
        path = f"/auth/users/{target}"
        body = init_body("DELETE", path)

        started = time.perf_counter()
        challenge = self.init(Request("POST", "/auth/action/init", headers, body)).document
        assert challenge is not None
        spent = time.perf_counter() - started

        complete_body = self.signer.complete_body(challenge)

        started = time.perf_counter()
        grant = self.complete(Request("POST", "/auth/action", headers, complete_body)).document
        assert grant is not None
        spent += time.perf_counter() - started

        # The client puts the token in its next request (as it built the first two).
        archive_headers = Headers(
            [("Authorization", f"Bearer {token}"), ("X-DFNS-USERACTION", grant["userAction"])]
        )

        started = time.perf_counter()
        answer = self.archive(
            Request("DELETE", path, archive_headers, b"", {"userId": target})
        ).document
        spent += time.perf_counter() - started
        if answer is None or answer["isActive"] is not False:
            raise AssertionError("the flow did not archive")
        return spent

    def close(self) -> None:
        self.deployment.close()


def run(*, quick: bool, tiny: bool = False) -> dict[str, Any]:
    """Flow and floor side by side; the median per-round ratio."""
    per_round = 5 if tiny else 100 if quick else 300
    rounds = 2 if tiny else 5 if quick else 15
    flows = _Flows(per_round * (rounds + 1))
    floor = _floor_case()
    flow_us: list[float] = []
    floor_us: list[float] = []
    try:
        for index in range(rounds + 1):
            total = sum(flows.one() for _ in range(per_round))
            started = time.perf_counter()
            for _ in range(per_round):
                floor()
            floor_total = time.perf_counter() - started
            if index:  # the first round warms caches up
                flow_us.append(total / per_round * 1e6)
                floor_us.append(floor_total / per_round * 1e6)
    finally:
        flows.close()
    ratios = [a / b for a, b in zip(flow_us, floor_us, strict=True)]

    def figure(values: list[float], unit: str) -> Figure:
        return Figure(statistics.median(values), min(values), max(values), unit)

    return {
        "flow_time_ratio": statistics.median(ratios),
        "figures": {
            "flow_server_time": figure(flow_us, "µs").to_dict(),
            "flow_crypto_floor": figure(floor_us, "µs").to_dict(),
            "flow_ratio": figure(ratios, "×").to_dict(),
        },
    }


if __name__ == "__main__":
    result = run(quick=False)
    for name, value in result["figures"].items():
        spread = f"[{value['min']:.4g}–{value['max']:.4g}]"
        print(f"{name:>20}: {value['median']:.4g} {value['unit']} {spread}")
    print(f"{'flow_time_ratio':>20}: {result['flow_time_ratio']:.3f} (goal ≤ {GOAL})")
