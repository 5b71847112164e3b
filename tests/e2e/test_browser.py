"""A real browser archives a user: Debian's chromium under WebDriver, a virtual
authenticator holding a P-256 passkey registered for the caller, and the official
`@dfns/sdk` client with the official `@dfns/sdk-browser` `WebAuthnSigner` on a page
served from another localhost port, calling `archive-core serve` with CORS on.

Every step must succeed (preflights, init, the passkey assertion, complete, DELETE); a
refusal anywhere fails the test. Then the refusals a page sees: a second archive (404,
read through CORS), and the same page from an origin the server does not list (the
browser blocks the request; nothing changes). It skips only when chromium or its driver is not
installed, and fails instead when `ARCHIVE_CORE_REQUIRE_BROWSER=1` (CI sets it).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.virtual_authenticator import (
    Credential,
    Protocol,
    Transport,
    VirtualAuthenticatorOptions,
)
from selenium.webdriver.support.ui import WebDriverWait

from archive_core.encoding import b64url_encode
from tests.e2e.browser_page import PageServer, build_page
from tests.e2e.conftest import cli_json

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def _binaries() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        reason = "chromium and chromium-driver (Debian packages) are not installed"
        if os.environ.get("ARCHIVE_CORE_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " and ARCHIVE_CORE_REQUIRE_BROWSER=1")
        pytest.skip(reason)
    return chromium, driver


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    chromium, driver_path = _binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="archive-core-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        # chromium's own caches and settings stay in the throw-away profile too
        env = {
            **os.environ,
            "XDG_CACHE_HOME": os.path.join(profile, "cache"),
            "XDG_CONFIG_HOME": os.path.join(profile, "config"),
        }
        driver = webdriver.Chrome(options=options, service=ChromeService(driver_path, env=env))
        try:
            driver.set_script_timeout(60)
            yield driver
        finally:
            driver.quit()


def _archive_in_page(driver: webdriver.Chrome, arguments: dict[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "window.archiveUser(arguments[0]).then(done, (e) => done({ok: false, message: String(e)}));",
        arguments,
    )
    return result


def test_official_browser_sdk_archives_a_user_with_a_passkey(
    tmp_path: Path, serve: Any, browser: webdriver.Chrome
) -> None:
    folder = build_page()

    db = str(tmp_path / "browser.db")
    admin = cli_json("bootstrap", "--db", db)
    target = cli_json(
        "users", "create", "--db", db, "--org", admin["orgId"],
        "--username", "browser.target@example.com", "--kind", "EndUser",
    )  # fmt: skip
    passkey = ec.generate_private_key(ec.SECP256R1())
    raw_id = b"archive-core-browser-passkey"
    pem = tmp_path / "passkey.pem"
    pem.write_bytes(
        passkey.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    registered = cli_json(
        "credentials", "add", "--db", db, "--user", admin["userId"], "--kind", "Fido2",
        "--public-key-file", str(pem), "--cred-id", b64url_encode(raw_id),
    )  # fmt: skip
    assert registered["algorithm"] == "-7"

    with PageServer(folder) as page:
        served = serve(
            "--db", db, "--rp-id", "localhost",
            "--origin", page.origin, "--cors-origin", page.origin,
        )  # fmt: skip

        browser.get(page.origin + "/index.html")
        WebDriverWait(browser, 30).until(lambda d: d.execute_script("return window.pageReady"))
        browser.add_virtual_authenticator(
            VirtualAuthenticatorOptions(
                protocol=Protocol.CTAP2,
                transport=Transport.INTERNAL,
                has_resident_key=True,
                has_user_verification=True,
                is_user_consenting=True,
                is_user_verified=True,
            )
        )
        private_der = passkey.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        browser.add_credential(
            Credential.create_resident_credential(
                raw_id, "localhost", admin["userId"].encode("utf-8"), private_der, 0
            )
        )

        arguments = {
            "baseUrl": served.url,
            "authToken": admin["authToken"],
            "appId": admin["appId"],
            "userId": target["userId"],
        }
        result = _archive_in_page(browser, arguments)
        assert result["ok"] is True, result
        user = result["user"]
        assert (user["userId"], user["isActive"], user["kind"]) == (
            target["userId"],
            False,
            "EndUser",
        )
        assert user["name"] == "browser.target@example.com"
        [credential] = browser.get_credentials()
        assert credential.sign_count == 1  # the passkey really signed, once

        # A refusal reaches the page too (CORS on error answers): archived users are gone.
        again = _archive_in_page(browser, arguments)
        assert again == {
            "ok": False,
            "status": 404,
            "message": "User not found or already archived.",
            "name": "DfnsError",
        }

        # The same page from an origin the server does not list: the browser's CORS check
        # stops the SDK's first request, and nothing changes.
        kept = cli_json(
            "users", "create", "--db", db, "--org", admin["orgId"],
            "--username", "kept@example.com", "--kind", "EndUser",
        )  # fmt: skip
        other_origin = page.origin.replace("localhost", "127.0.0.1")
        browser.get(other_origin + "/index.html")
        WebDriverWait(browser, 30).until(lambda d: d.execute_script("return window.pageReady"))
        blocked = _archive_in_page(browser, {**arguments, "userId": kept["userId"]})
        # (the SDK's fetch ponyfill words a blocked request this way)
        assert blocked == {
            "ok": False,
            "status": None,
            "message": "Network request failed",
            "name": "TypeError",
        }
        still = httpx.get(
            f"{served.url}/auth/users/{kept['userId']}",
            headers={"Authorization": f"Bearer {admin['authToken']}"},
        )
        assert still.json()["isActive"] is True

    trail = cli_json("audit", "--db", db, "--verify")
    assert trail["ok"] is True
    [record] = trail["records"]
    assert record["evidence"][0]["kind"] == "Fido2"
