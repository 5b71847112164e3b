"""`archive-core serve --operation MODULE:NAME` serves an embedder's declared operation
beside the library's: the tests' own rename (`tests/e2e/rename_user.py`, the module
docs/extending.md shows), signed by the official Python SDK's generic signed request,
answered 200 and audited, in `/openapi.json` and in the metrics' labels. A reference
that names no declaration is one line on stderr and exit status 2."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from dfns_sdk import DfnsClient, DfnsClientConfig, KeySigner  # type: ignore[import-untyped]  # the SDK ships no types

from tests.e2e.conftest import cli, cli_json, new_org

RENAME = "tests.e2e.rename_user:RENAME_USER"
_METRICS = re.compile(r"archive-core metrics on (http://\S+/metrics)")


def _samples(text: str) -> dict[str, float]:
    return {
        name: float(value)
        for name, value in (
            line.rsplit(" ", 1) for line in text.splitlines() if line and line[0] != "#"
        )
    }


def test_serve_operation_is_signed_by_the_official_sdk_and_audited(
    tmp_path: Path, serve: Any
) -> None:
    db = str(tmp_path / "rename.db")
    admin, target = new_org(db, "before@example.com")
    served = serve("--db", db, "--operation", RENAME, "--metrics-port", "0")
    metrics = _METRICS.search(served.started)
    assert metrics is not None, served.started

    signer = KeySigner(credential_id=admin["credId"], private_key=admin["privateKeyPem"])
    config = DfnsClientConfig(auth_token=admin["authToken"], base_url=served.url, signer=signer)
    with DfnsClient(config) as client:
        # the SDK's generic request: what its generated methods call, signing included
        renamed = client._http.request(
            "PUT",
            "/auth/users/{userId}/rename",
            path_params={"userId": target["userId"]},
            body={"username": "after@example.com"},
            requires_signature=True,
        )
    assert renamed["userId"] == target["userId"]
    assert renamed["username"] == "after@example.com"
    fetched = httpx.get(
        f"{served.url}/auth/users/{target['userId']}",
        headers={"Authorization": f"Bearer {admin['authToken']}"},
    )
    assert fetched.json()["username"] == "after@example.com"

    audit = cli_json("audit", "--db", db, "--org", admin["orgId"], "--verify")
    assert audit["ok"] is True
    assert [record["action"] for record in audit["records"]] == [
        f"PUT /auth/users/{target['userId']}/rename"
    ]

    document = httpx.get(f"{served.url}/openapi.json").json()
    assert document["paths"]["/auth/users/{userId}/rename"]["put"]["operationId"] == "renameUser"
    assert "delete" in document["paths"]["/auth/users/{userId}"]  # beside the library's

    samples = _samples(httpx.get(metrics.group(1)).text)
    route = 'method="PUT",route="/auth/users/{userId}/rename",status="200"'
    assert samples[f"archive_core_http_requests_total{{{route}}}"] == 1
    assert samples['archive_core_decisions_total{operation="rename_user",outcome="renamed"}'] == 1


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_operation_from_its_variable(tmp_path: Path, serve: Any, workers: str) -> None:
    served = serve(
        "--db", str(tmp_path / "env.db"), "--workers", workers,
        env={"ARCHIVE_CORE_OPERATIONS": RENAME},
    )  # fmt: skip
    for _ in range(4):  # whichever worker answers: each imported the declaration
        document = httpx.get(f"{served.url}/openapi.json", headers={"Connection": "close"}).json()
        assert "/auth/users/{userId}/rename" in document["paths"]


@pytest.mark.parametrize(
    ("reference", "line"),
    [
        (
            "tests.e2e.rename_user",
            "archive-core serve: argument --operation: must be MODULE:NAME, as in "
            "myproject.operations:RENAME_USER (see archive-core serve --help)",
        ),
        (
            "tests.e2e.no_such_module:RENAME_USER",
            "archive-core: --operation tests.e2e.no_such_module:RENAME_USER: cannot import "
            "tests.e2e.no_such_module: No module named 'tests.e2e.no_such_module'",
        ),
        (
            "tests.e2e.rename_user:RENAME",
            "archive-core: --operation tests.e2e.rename_user:RENAME: "
            "tests.e2e.rename_user has no RENAME",
        ),
        (
            "tests.e2e.rename_user:Rename",
            "archive-core: --operation tests.e2e.rename_user:Rename: "
            "Rename is a type, not an archive_core.Declaration",
        ),
        (
            "archive_core.use_cases:ARCHIVE_USER",
            "archive-core: Declaration(ArchiveUser: DELETE /auth/users/{userId}) is served twice",
        ),
    ],
)
def test_a_bad_reference_is_one_line_and_status_2(
    tmp_path: Path, reference: str, line: str
) -> None:
    result = cli(
        "serve", "--port", "0", "--db", str(tmp_path / "bad.db"), "--operation", reference,
        check=False,
    )  # fmt: skip
    assert (result.returncode, result.stdout, result.stderr) == (2, "", line + "\n")
