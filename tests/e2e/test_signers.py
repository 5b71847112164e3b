"""Every official Dfns signer against `archive-core serve`, each sending exactly its bytes
(SPEC §3 "What the official signers really send"):

- the Python SDK's `KeySigner` (clientData with `origin: https://app.dfns.io`), through
  `DfnsClient` and through `DfnsDelegatedClient` (init → sign elsewhere → complete);
- the TypeScript key signers (`@dfns/sdk-keysigner`, `@dfns/sdk-browser` BrowserKeySigner):
  `JSON.stringify({type: "key.get", challenge})`, no origin;
- the password-protected-key signer: credId from `allowCredentials.passwordProtectedKey`,
  answering `kind: "Key"`;
- `@dfns/sdk-browser` WebAuthnSigner: clientDataJSON `challenge` = base64url(UTF-8 of the
  challenge string), `userHandle` absent or `""` (older versions);
- the React Native passkey signers: clientDataJSON `challenge` = the challenge itself;

and the refusals: deprecated `Password`/`Totp` factors, recovery keys, a Key origin off the
`--key-origin` list. Credentials are registered with `archive-core credentials add`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from dfns_sdk import (  # type: ignore[import-untyped]  # the SDK ships no types
    DfnsClient,
    DfnsClientConfig,
    DfnsDelegatedClient,
    DfnsDelegatedClientConfig,
    DfnsError,
    KeySigner,
)

from archive_core.encoding import b64url_encode
from tests.crypto.authenticator import FLAG_UP, FLAG_UV, authenticator_data
from tests.e2e.conftest import cli_json

PAGE_ORIGIN = "http://localhost:5173"
NO_CREDENTIAL = "User does not have a credential that can be used for the application."
NOT_VERIFIED = "The credential assertion could not be verified."


def _compact(document: dict[str, Any]) -> bytes:
    """`JSON.stringify` of a flat object of strings and booleans."""
    return json.dumps(document, separators=(",", ":")).encode()


class Passkey:
    """A P-256 passkey producing what a browser's `navigator.credentials.get` returns."""

    def __init__(self, raw_id: bytes) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.cred_id = b64url_encode(raw_id)
        self.count = 0

    def public_pem(self, path: Path) -> str:
        path.write_bytes(
            self.private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return str(path)

    def get_assertion(
        self, challenge_field: str, *, user_handle: str | None = None
    ) -> dict[str, Any]:
        self.count += 1
        client_data = _compact(
            {
                "type": "webauthn.get",
                "challenge": challenge_field,
                "origin": PAGE_ORIGIN,
                "crossOrigin": False,
            }
        )
        auth_data = authenticator_data("localhost", FLAG_UP | FLAG_UV, self.count)
        signature = self.private.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        assertion: dict[str, Any] = {
            "credId": self.cred_id,
            "clientData": b64url_encode(client_data),
            "authenticatorData": b64url_encode(auth_data),
            "signature": b64url_encode(signature),
        }
        if user_handle is not None:
            assertion["userHandle"] = user_handle
        return {"kind": "Fido2", "credentialAssertion": assertion}


class Org:
    """A bootstrapped org in a SQLite file, and `serve` over it."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.db = str(tmp_path / "signers.db")
        self.admin = cli_json("bootstrap", "--db", self.db)
        self.url = ""
        self._targets = itertools.count(1)  # usernames are unique per org

    def user(self, name: str, *permissions: str) -> dict[str, Any]:
        extra = [arg for p in permissions for arg in ("--permission", p)]
        return cli_json(  # type: ignore[no-any-return]
            "users", "create", "--db", self.db, "--org", self.admin["orgId"],
            "--username", name, "--kind", "EndUser", "--token", "--key-algorithm", "ed25519",
            *extra,
        )  # fmt: skip

    def add(self, kind: str, pem: str, cred_id: str, *extra: str) -> dict[str, Any]:
        return cli_json(  # type: ignore[no-any-return]
            "credentials", "add", "--db", self.db, "--user", self.admin["userId"],
            "--kind", kind, "--public-key-file", pem, "--cred-id", cred_id, *extra,
        )  # fmt: skip

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.admin['authToken']}"}

    def init(self, target: str, token: str | None = None) -> dict[str, Any]:
        answer = httpx.post(
            f"{self.url}/auth/action/init",
            headers=self.headers(token),
            json={
                "userActionPayload": "",
                "userActionHttpMethod": "DELETE",
                "userActionHttpPath": f"/auth/users/{target}",
            },
        )
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def complete(self, challenge: dict[str, Any], factor: dict[str, Any]) -> httpx.Response:
        return httpx.post(
            f"{self.url}/auth/action",
            headers=self.headers(),
            json={"challengeIdentifier": challenge["challengeIdentifier"], "firstFactor": factor},
        )

    def archive_with(self, target: dict[str, Any], factor_for: Any) -> dict[str, Any]:
        """init → the signer's factor → complete → DELETE; the archived user."""
        challenge = self.init(target["userId"])
        completed = self.complete(challenge, factor_for(challenge))
        assert completed.status_code == 200, completed.text
        archived = httpx.delete(
            f"{self.url}/auth/users/{target['userId']}",
            headers={**self.headers(), "X-DFNS-USERACTION": completed.json()["userAction"]},
        )
        assert archived.status_code == 200, archived.text
        assert archived.json()["isActive"] is False
        return archived.json()  # type: ignore[no-any-return]

    def refused(self, factor_for: Any, status: int, message: str) -> None:
        target = self.user(f"kept{len(message)}{status}.{next(self._targets)}@example.com")
        challenge = self.init(target["userId"])
        answer = self.complete(challenge, factor_for(challenge))
        assert answer.json() == {
            "error": {
                "id": answer.json()["error"]["id"],
                "message": message,
                "status": status,
                "code": answer.json()["error"]["code"],
                "reason": answer.json()["error"]["reason"],
            }
        }
        assert answer.status_code == status


def _typescript_key_factor(private: Any, cred_id: str, kind: str = "Key") -> Any:
    def factor(challenge: dict[str, Any]) -> dict[str, Any]:
        client_data = _compact({"type": "key.get", "challenge": challenge["challenge"]})
        if isinstance(private, ed25519.Ed25519PrivateKey):
            signature = private.sign(client_data)
        else:
            signature = private.sign(client_data, ec.ECDSA(hashes.SHA256()))
        return {
            "kind": kind,
            "credentialAssertion": {
                "credId": cred_id,
                "clientData": b64url_encode(client_data),
                "signature": b64url_encode(signature),
            },
        }

    return factor


def _pem_file(private: Any, path: Path) -> str:
    path.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return str(path)


@pytest.fixture
def org(tmp_path: Path, serve: Any) -> Org:
    made = Org(tmp_path)
    # passkey origins set: they must never constrain the key signers
    made.url = serve("--db", made.db, "--origin", PAGE_ORIGIN).url
    return made


def test_python_sdk_key_signer_through_both_clients(org: Org) -> None:
    signer = KeySigner(
        credential_id=org.admin["credId"], private_key=org.admin["privateKeyPem"]
    )  # origin https://app.dfns.io, as the SDK writes it wherever it runs
    client = DfnsClient(
        DfnsClientConfig(auth_token=org.admin["authToken"], base_url=org.url, signer=signer)
    )
    target = org.user("sdk@example.com")
    archived = client.auth.delete_user(target["userId"])
    assert archived["userId"] == target["userId"]
    assert archived["name"] == "sdk@example.com"
    assert archived["isSSORequired"] is False

    delegated = DfnsDelegatedClient(
        DfnsDelegatedClientConfig(auth_token=org.admin["authToken"], base_url=org.url)
    )
    target = org.user("delegated@example.com")
    challenge = delegated.auth.delete_user_init(target["userId"])
    assert challenge["attestation"] == "none"
    signed = {"challengeIdentifier": challenge["challengeIdentifier"]}
    signed["firstFactor"] = signer.sign(challenge)  # "elsewhere": any signer's output
    archived = delegated.auth.delete_user_complete(target["userId"], signed)
    assert (archived["userId"], archived["isActive"]) == (target["userId"], False)

    with pytest.raises(DfnsError) as second:
        client.auth.delete_user(target["userId"])
    assert second.value.status_code == 404


def test_delegated_client_with_a_browser_passkey(org: Org, tmp_path: Path) -> None:
    passkey = Passkey(b"delegated-passkey")
    org.add("Fido2", passkey.public_pem(tmp_path / "p.pem"), passkey.cred_id)
    delegated = DfnsDelegatedClient(
        DfnsDelegatedClientConfig(auth_token=org.admin["authToken"], base_url=org.url)
    )
    target = org.user("passkey.delegated@example.com")
    challenge = delegated.auth.delete_user_init(target["userId"])
    assert [c["id"] for c in challenge["allowCredentials"]["webauthn"]] == [passkey.cred_id]
    browser_form = b64url_encode(challenge["challenge"].encode("utf-8"))
    archived = delegated.auth.delete_user_complete(
        target["userId"],
        {
            "challengeIdentifier": challenge["challengeIdentifier"],
            "firstFactor": passkey.get_assertion(browser_form),
        },
    )
    assert archived["isActive"] is False


def test_typescript_key_signers(org: Org, tmp_path: Path) -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())  # BrowserKeySigner: WebCrypto ECDSA P-256
    org.add("Key", _pem_file(p256, tmp_path / "k.pem"), "browser-key")
    org.archive_with(org.user("ts.p256@example.com"), _typescript_key_factor(p256, "browser-key"))
    edwards = ed25519.Ed25519PrivateKey.generate()  # AsymmetricKeySigner: node:crypto sign
    org.add("Key", _pem_file(edwards, tmp_path / "e.pem"), "node-key")
    org.archive_with(org.user("ts.ed@example.com"), _typescript_key_factor(edwards, "node-key"))


def test_password_protected_key_signer_answers_as_key(org: Org, tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = _pem_file(private, tmp_path / "ppk.pem")
    org.add("PasswordProtectedKey", pem, "ppk-1", "--encrypted-private-key", "opaque-blob")
    target = org.user("ppk@example.com")

    def factor(challenge: dict[str, Any]) -> dict[str, Any]:
        [offered] = challenge["allowCredentials"]["passwordProtectedKey"]
        assert offered == {
            "type": "public-key",
            "id": "ppk-1",
            "encryptedPrivateKey": "opaque-blob",
        }
        signed: dict[str, Any] = _typescript_key_factor(private, offered["id"], kind="Key")(
            challenge
        )
        return signed

    org.archive_with(target, factor)


def test_passkey_signers(org: Org, tmp_path: Path) -> None:
    passkey = Passkey(b"\x01\x02passkey-raw-id")
    org.add("Fido2", passkey.public_pem(tmp_path / "pk.pem"), passkey.cred_id)

    def browser(challenge: dict[str, Any]) -> dict[str, Any]:  # Buffer.from(challenge)
        return passkey.get_assertion(b64url_encode(challenge["challenge"].encode("utf-8")))

    def older_browser(challenge: dict[str, Any]) -> dict[str, Any]:
        return passkey.get_assertion(
            b64url_encode(challenge["challenge"].encode("utf-8")), user_handle=""
        )

    def react_native(challenge: dict[str, Any]) -> dict[str, Any]:
        handle = b64url_encode(org.admin["userId"].encode("utf-8"))
        return passkey.get_assertion(challenge["challenge"], user_handle=handle)

    for name, signer in [("b", browser), ("o", older_browser), ("rn", react_native)]:
        org.archive_with(org.user(f"passkey.{name}@example.com"), signer)

    org.refused(
        lambda c: passkey.get_assertion(
            b64url_encode(b64url_encode(c["challenge"].encode()).encode())
        ),
        401,
        NOT_VERIFIED,
    )


@pytest.mark.parametrize("factor_kind", ["Password", "Totp"])
def test_deprecated_factors_are_named(org: Org, factor_kind: str) -> None:
    def factor(challenge: dict[str, Any]) -> dict[str, Any]:
        return {"kind": factor_kind, "credentialAssertion": {"password": "never-echoed"}}

    org.refused(factor, 401, f"{factor_kind} credentials are not supported for user actions.")


def test_a_recovery_key_never_signs(org: Org, tmp_path: Path) -> None:
    recovery = ed25519.Ed25519PrivateKey.generate()
    org.add("RecoveryKey", _pem_file(recovery, tmp_path / "r.pem"), "recovery-1")
    challenge = org.init(org.admin["userId"])
    offered = [c["id"] for group in challenge["allowCredentials"].values() for c in group]
    assert "recovery-1" not in offered
    assert {k["kind"] for k in challenge["supportedCredentialKinds"]} == {"Key"}
    for kind in ("RecoveryKey", "Key", "PasswordProtectedKey"):
        org.refused(_typescript_key_factor(recovery, "recovery-1", kind=kind), 401, NO_CREDENTIAL)


def test_key_origin_list_is_its_own(tmp_path: Path, serve: Any) -> None:
    org = Org(tmp_path)
    org.url = serve(
        "--db", org.db, "--origin", PAGE_ORIGIN, "--key-origin", "https://app.dfns.io"
    ).url
    signer = KeySigner(credential_id=org.admin["credId"], private_key=org.admin["privateKeyPem"])
    client = DfnsClient(
        DfnsClientConfig(auth_token=org.admin["authToken"], base_url=org.url, signer=signer)
    )
    assert client.auth.delete_user(org.user("listed@example.com")["userId"])["isActive"] is False
    # the TypeScript signer sends no origin: refused once a Key-kind list is set
    private = ed25519.Ed25519PrivateKey.generate()
    org.add("Key", _pem_file(private, tmp_path / "k.pem"), "ts-key")
    org.refused(_typescript_key_factor(private, "ts-key"), 401, NOT_VERIFIED)


def test_serve_matrix_preset(tmp_path: Path, serve: Any) -> None:
    org = Org(tmp_path)
    org.url = serve("--db", org.db, "--matrix", "dfns-delete").url
    target = org.user("target@example.com")
    caller = org.user(
        "updater@example.com", "Auth:Users:Update", "Auth:Types:Employee", "Auth:Types:EndUser"
    )
    signer = KeySigner(credential_id=caller["credId"], private_key=caller["privateKeyPem"])
    client = DfnsClient(
        DfnsClientConfig(auth_token=caller["authToken"], base_url=org.url, signer=signer)
    )
    with pytest.raises(DfnsError) as denied:
        client.auth.delete_user(target["userId"])
    assert denied.value.status_code == 403
    assert denied.value.message == (
        f"EndUser {caller['userId']} is not authorized to perform operation (Auth:Users:Delete)"
    )
