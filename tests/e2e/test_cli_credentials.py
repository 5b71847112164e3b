"""`archive-core credentials add`: a credential from a SubjectPublicKeyInfo PEM (Fido2: the
COSE form derived from it), JSON for scripts, a one-line error and exit 2 for bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from fido2 import cbor

from adapters.entrypoints.cli import main
from archive_core.encoding import b64url_decode


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def _pem(private: PrivateKeyTypes, path: Path) -> str:
    public = private.public_key()
    path.write_bytes(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return str(path)


@pytest.fixture
def db_user(tmp_path: Path) -> tuple[str, str]:
    db = str(tmp_path / "c.db")
    status, out = _run("bootstrap", "--db", db, "--json")
    assert status == 0
    return db, json.loads(out)["userId"]


@pytest.mark.parametrize(
    ("kind", "key", "algorithm"),
    [
        ("Key", ed25519.Ed25519PrivateKey.generate(), "Ed25519"),
        ("PasswordProtectedKey", ec.generate_private_key(ec.SECP256R1()), "ECDSA-P256-SHA256"),
        ("RecoveryKey", ec.generate_private_key(ec.SECP256K1()), "ECDSA-secp256k1-SHA256"),
        ("Fido2", ec.generate_private_key(ec.SECP256R1()), "-7"),
        ("Fido2", ed25519.Ed25519PrivateKey.generate(), "-8"),
        ("Fido2", rsa.generate_private_key(65537, 2048), "-257"),
    ],
)
def test_add_registers_each_kind(
    tmp_path: Path, db_user: tuple[str, str], kind: str, key: Any, algorithm: str
) -> None:
    db, user = db_user
    pem = _pem(key, tmp_path / "key.pem")
    status, out = _run(
        "credentials", "add", "--db", db, "--user", user, "--kind", kind,
        "--public-key-file", pem, "--cred-id", f"cred-{kind}", "--json",
    )  # fmt: skip
    assert status == 0, out
    document = json.loads(out)
    assert set(document) == {"credId", "credentialUuid", "kind", "algorithm"}
    assert document["credId"] == f"cred-{kind}"
    assert document["credentialUuid"].startswith("cr-")
    assert (document["kind"], document["algorithm"]) == (kind, algorithm)


def test_fido2_stores_the_cose_key_of_the_pem(tmp_path: Path, db_user: tuple[str, str]) -> None:
    from adapters.wiring.bootstrap import build
    from archive_core.ids import UserId

    db, user = db_user
    private = ec.generate_private_key(ec.SECP256R1())
    pem = _pem(private, tmp_path / "passkey.pem")
    status, out = _run(
        "credentials", "add", "--db", db, "--user", user, "--kind", "Fido2",
        "--public-key-file", pem, "--cred-id", "cGFzc2tleQ",
    )  # fmt: skip
    assert status == 0
    assert out.startswith("credential cGFzc2tleQ (Fido2, -7) cr-")
    with build(db_url=db) as deployment, deployment.storage.uow_factory() as uow:
        [stored] = [
            c for c in uow.credentials.list_for_user(UserId(user)) if c.cred_id == "cGFzc2tleQ"
        ]
    cose = cbor.decode(b64url_decode(stored.public_key))
    assert isinstance(cose, dict)
    numbers = private.public_key().public_numbers()
    assert cose[3] == -7 and cose[-1] == 1
    assert cose[-2] == numbers.x.to_bytes(32, "big")
    assert cose[-3] == numbers.y.to_bytes(32, "big")


@pytest.mark.parametrize(
    ("content", "kind", "message"),
    [
        (
            b"-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n",
            "Key",
            "error: The credential's public key is not acceptable. (public_key_malformed)\n",
        ),
        (
            None,  # a secp256k1 key: no passkey holds one
            "Fido2",
            "error: The credential's public key is not acceptable. "
            "(key_type_not_supported_for_fido2)\n",
        ),
        (
            b"\xff\xfe binary",
            "Key",
            "error: --public-key-file cannot be read as a PEM file\n",
        ),
    ],
)
def test_a_bad_key_is_one_line_and_exit_2(
    tmp_path: Path, db_user: tuple[str, str], content: bytes | None, kind: str, message: str
) -> None:
    db, user = db_user
    path = tmp_path / "bad.pem"
    if content is None:
        _pem(ec.generate_private_key(ec.SECP256K1()), path)
    else:
        path.write_bytes(content)
    status, out = _run(
        "credentials", "add", "--db", db, "--user", user, "--kind", kind,
        "--public-key-file", str(path), "--cred-id", "bad",
    )  # fmt: skip
    assert (status, out) == (2, message)


def test_bad_user_file_or_cred_id_is_one_line_and_exit_2(
    tmp_path: Path, db_user: tuple[str, str]
) -> None:
    db, user = db_user
    pem = _pem(ed25519.Ed25519PrivateKey.generate(), tmp_path / "k.pem")
    base = ["credentials", "add", "--db", db, "--kind", "Key", "--public-key-file", pem]
    cases = [
        (
            ["--user", "us-nope", "--cred-id", "a"],
            "error: --user must be a user id like us-xxxxx-xxxxx-xxxxxxxxxxxxxxxx\n",
        ),
        (
            ["--user", "us-aaaaa-bbbbb-cccccccccccccccc", "--cred-id", "a"],
            "error: no active user with that id\n",
        ),
        (
            ["--user", user, "--cred-id", "a b\n"],
            "error: --cred-id must be 1 to 1024 printable ASCII characters\n",
        ),
    ]
    for extra, message in cases:
        assert _run(*base, *extra) == (2, message)
    missing = ["--public-key-file", str(tmp_path / "missing.pem")]
    assert _run(*base, *missing, "--user", user, "--cred-id", "a") == (
        2,
        "error: --public-key-file cannot be read as a PEM file\n",
    )
    assert _run(*base, "--user", user, "--cred-id", "twice")[0] == 0
    assert _run(*base, "--user", user, "--cred-id", "twice") == (
        2,
        "error: a credential with that --cred-id is already registered\n",
    )
