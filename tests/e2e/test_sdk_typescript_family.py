"""The rest of the user family through the official TypeScript client, in Node: `@dfns/sdk`
with `@dfns/sdk-keysigner`'s `AsymmetricKeySigner`, installed from the npm registry at
the versions `tests/e2e/node/package-lock.json` pins (`npm ci` inside the clone:
`node_modules/` and the cache `.npm-cache/` are git-ignored), against `archive-core
serve`: create users, walk every page of the list (by kind too, which the client sends
comma-separated), update one, archive a listed one (`src/family.mjs`)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.e2e.conftest import cli_json, npm_ci

NODE_DIR = Path(__file__).resolve().parent / "node"


def test_create_list_update_and_archive_through_the_typescript_sdk(
    tmp_path: Path, serve: Any
) -> None:
    env = npm_ci(NODE_DIR)
    db = str(tmp_path / "node.db")
    admin = cli_json("bootstrap", "--db", db)
    served = serve("--db", db)
    node = shutil.which("node")
    assert node is not None
    arguments = {
        "baseUrl": served.url,
        "authToken": admin["authToken"],
        "credId": admin["credId"],
        "privateKeyPem": admin["privateKeyPem"],
        "adminId": admin["userId"],
    }
    ran = subprocess.run(  # noqa: S603 - node from PATH, our own script
        [node, "src/family.mjs", json.dumps(arguments)],
        cwd=NODE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    seen = json.loads(ran.stdout.strip().splitlines()[-1])

    created = seen["created"]
    assert all(user["isActive"] and not user["isRegistered"] for user in created)
    assert seen["againUserId"] == created[0]["userId"]
    assert seen["taken"] == {
        "status": 409,
        "message": "A user of the org already has this username.",
    }
    everyone = sorted([admin["userId"], *(user["userId"] for user in created)])
    assert seen["listed"] == everyone
    assert seen["both"] == everyone
    assert seen["endUsers"] == sorted(u["userId"] for u in created if u["kind"] == "EndUser")
    assert seen["updated"] == {"userId": created[2]["userId"], "isSSORequired": True}
    target = seen["archived"]["userId"]
    assert target in everyone and target != admin["userId"]
    assert seen["archived"]["isActive"] is False
    assert seen["remaining"] == [i for i in everyone if i != target]
