"""`key_verify`: our Key-kind verifier ÷ a bare `cryptography` verify of the same signature.

For each key algorithm, one signature over SDK-shaped clientData is checked two ways,
side by side in the same run: through `KeySignatureVerifier.verify` (cache look-up,
guards, the exception boundary) and by calling the loaded `cryptography` key directly
with prebuilt padding/hash objects (the floor). Rounds interleave the two, alternating
which goes first; the figure is the median of the per-round ratios. Goal: ≤ 1.15.

    .venv/bin/python benchmarks/key_verify.py [--quick]
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from adapters.crypto.keys import (
    ECDSA_P256,
    ECDSA_P384,
    ECDSA_SECP256K1,
    ED25519,
    RSA_PKCS1V15,
    RSA_PSS,
    KeySignatureVerifier,
)
from archive_core.entities import Credential, CredentialKind
from archive_core.ids import CredentialUuid, OrgId, UserId

__all__ = ["GOAL", "measure", "run"]

GOAL = 1.15
CLIENT_DATA = (
    b'{"type":"key.get","challenge":"Y2gtM2Q4ZjEyYTk0YjE2NGUwNzk5YzdhNTM0ZWQ4ZjBmNjY",'
    b'"origin":"https://app.dfns.io","crossOrigin":false}'
)
_SHA256 = hashes.SHA256()
_ECDSA = ec.ECDSA(_SHA256)
_PKCS1 = padding.PKCS1v15()
_PSS = padding.PSS(mgf=padding.MGF1(_SHA256), salt_length=32)

Case = tuple[Callable[[], object], Callable[[], object]]


def _credential(private: Any, algorithm: str) -> Credential:
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Credential(
        uuid=CredentialUuid("cr-bench-cred-000000000001"),
        cred_id="bench",
        user_id=UserId("us-bench-user-000000000001"),
        org_id=OrgId("or-bench-org-000000000001"),
        kind=CredentialKind.KEY,
        public_key=pem.decode("ascii"),
        algorithm=algorithm,
    )


def _ecdsa_floor(public: ec.EllipticCurvePublicKey, signature: bytes) -> Callable[[], object]:
    return lambda: public.verify(signature, CLIENT_DATA, _ECDSA)


def cases() -> dict[str, Case]:
    """(ours, bare) per algorithm, over one valid signature each."""
    verifier = KeySignatureVerifier()
    built: dict[str, Case] = {}

    def add(algorithm: str, private: Any, signature: bytes, bare: Callable[[], object]) -> None:
        credential = _credential(private, algorithm)
        verifier.validate_public_key(CredentialKind.KEY, algorithm, credential.public_key)

        def ours() -> None:
            verifier.verify(credential, message=CLIENT_DATA, signature=signature)

        ours()  # the key is loaded now, as after its first use
        bare()
        built[algorithm] = (ours, bare)

    ed = ed25519.Ed25519PrivateKey.generate()
    ed_sig, ed_pub = ed.sign(CLIENT_DATA), ed.public_key()
    add(ED25519, ed, ed_sig, lambda: ed_pub.verify(ed_sig, CLIENT_DATA))
    for algorithm, curve in (
        (ECDSA_P256, ec.SECP256R1()),
        (ECDSA_P384, ec.SECP384R1()),
        (ECDSA_SECP256K1, ec.SECP256K1()),
    ):
        key = ec.generate_private_key(curve)
        signature, public = key.sign(CLIENT_DATA, _ECDSA), key.public_key()
        add(algorithm, key, signature, _ecdsa_floor(public, signature))
    rsa_key = rsa.generate_private_key(65537, 2048)
    rsa_pub = rsa_key.public_key()
    pkcs1 = rsa_key.sign(CLIENT_DATA, _PKCS1, _SHA256)
    add(RSA_PKCS1V15, rsa_key, pkcs1, lambda: rsa_pub.verify(pkcs1, CLIENT_DATA, _PKCS1, _SHA256))
    pss = rsa_key.sign(CLIENT_DATA, _PSS, _SHA256)
    add(RSA_PSS, rsa_key, pss, lambda: rsa_pub.verify(pss, CLIENT_DATA, _PSS, _SHA256))
    return built


def _per_call(fn: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def measure(
    ours: Callable[[], object], bare: Callable[[], object], *, number: int, rounds: int
) -> tuple[float, float, float]:
    """(median µs ours, median µs bare, median per-round ratio), interleaved rounds."""
    _per_call(ours, max(1, number // 4))  # warm-up
    _per_call(bare, max(1, number // 4))
    ours_us: list[float] = []
    bare_us: list[float] = []
    for index in range(rounds):
        if index % 2:
            b = _per_call(bare, number)
            o = _per_call(ours, number)
        else:
            o = _per_call(ours, number)
            b = _per_call(bare, number)
        ours_us.append(o * 1e6)
        bare_us.append(b * 1e6)
    ratios = [o / b for o, b in zip(ours_us, bare_us, strict=True)]
    return statistics.median(ours_us), statistics.median(bare_us), statistics.median(ratios)


def run(*, quick: bool) -> dict[str, float]:
    """Per key algorithm: our verify ÷ bare `cryptography` verify (median ratio)."""
    return {name: figure[2] for name, figure in _figures(quick=quick).items()}


def _figures(*, quick: bool) -> dict[str, tuple[float, float, float]]:
    number, rounds = (40, 5) if quick else (200, 15)
    return {
        name: measure(ours, bare, number=number, rounds=rounds)
        for name, (ours, bare) in cases().items()
    }


def main(argv: list[str]) -> int:
    figures = _figures(quick="--quick" in argv)
    print(f"{'algorithm':<24}{'ours µs':>10}{'bare µs':>10}{'ratio':>8}   goal ≤ {GOAL}")
    for name, (ours, bare, ratio) in figures.items():
        verdict = "ok" if ratio <= GOAL else "OVER"
        print(f"{name:<24}{ours:>10.1f}{bare:>10.1f}{ratio:>8.3f}   {verdict}")
    return 0 if all(ratio <= GOAL for _, _, ratio in figures.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
