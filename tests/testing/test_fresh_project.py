"""Done when: a fresh project outside this repository pip-installs archive-core, uses the
kit's fixtures in its own tests and holds its own adapter to a contract suite, and its
tests pass.

The package is built into a wheel from a copy of this checkout's files (tracked, or new
and not ignored: no stale `build/` can leak in), as `pip install <path>` would, and
installed without dependencies into a fresh virtual environment; the dependencies
(attrs, cryptography, pytest, ...) come from this environment's site-packages, linked
in one by one — all but archive-core itself, so the project can only reach the copy
it installed. Nothing is fetched: the build uses pip as this machine configures it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from adapters.testing.contracts import ReplayGuardContract

ROOT = Path(__file__).resolve().parents[2]

RULES_TEST = """
from pathlib import Path

import adapters.testing
from adapters.testing import World, assert_archived_by, assert_audit_intact
from adapters.testing.world import Scene


def test_the_kit_is_the_installed_copy() -> None:
    assert "site-packages" in Path(adapters.testing.__file__).parts


def test_an_archive_through_the_fixtures(archive_world: World, archive_scene: Scene) -> None:
    archive_world.archive_user(archive_scene.admin, archive_scene.end_user.id)
    assert_archived_by(archive_world, archive_scene.end_user, by=archive_scene.admin)
    assert assert_audit_intact(archive_world) == 1
"""

ADAPTER_TEST = '''
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest

from adapters.testing.contracts import ReplayGuardContract


class DictReplayGuard:
    """Our own replay guard: keys in a dict, remembered through their expiry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._expiry: dict[str, datetime] = {}

    def first_use(self, key: str, *, expires_at: datetime, now: datetime) -> bool:
        with self._lock:
            known = self._expiry.get(key)
            if known is not None and now <= known:
                return False
            self._expiry[key] = expires_at
            return True

    def purge(self, *, now: datetime) -> int:
        with self._lock:
            gone = [key for key, expiry in self._expiry.items() if expiry < now]
            for key in gone:
                del self._expiry[key]
            return len(gone)


class TestDictReplayGuard(ReplayGuardContract):
    @contextmanager
    def open(self, request: pytest.FixtureRequest) -> Iterator[DictReplayGuard]:
        yield DictReplayGuard()
'''


def _run(*args: str | Path, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run(  # noqa: S603 - our own interpreters and files
        [str(arg) for arg in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    assert result.returncode == 0 or not check, result.stdout + result.stderr
    return result


def _linked_dependencies(into: Path) -> Path:
    """A directory of links to this environment's installed packages, archive-core's
    own files (and its editable-install hooks) left out."""
    into.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        name = entry.name.lower()
        if name.startswith(("archive_core", "__editable__", "adapters")) or name.endswith(".pth"):
            continue
        (into / entry.name).symlink_to(entry)
    return into


def _checkout_copy(into: Path) -> Path:
    """The checkout's files — tracked, or new and not ignored — copied into `into`."""
    listed = _run(
        "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    return into


@pytest.mark.slow
def test_a_fresh_project_uses_the_kit_and_a_contract_suite(tmp_path: Path) -> None:
    source = _checkout_copy(tmp_path / "archive-core")
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, source, cwd=tmp_path)
    (wheel,) = dist.glob("archive_core-*.whl")

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    purelib = _run(
        python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path
    ).stdout.strip()
    deps = _linked_dependencies(tmp_path / "deps")
    (Path(purelib) / "dependencies.pth").write_text(f"{deps}\n", encoding="utf-8")
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "-q",
        "--no-deps",
        wheel,
        cwd=tmp_path,
    )

    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_rules.py").write_text(RULES_TEST, encoding="utf-8")
    (project / "tests" / "test_adapter.py").write_text(ADAPTER_TEST, encoding="utf-8")
    result = _run(
        python,
        "-m",
        "pytest",
        "-q",
        "-rs",
        "-p",
        "no:cacheprovider",
        "tests",
        cwd=project,
        check=False,
    )

    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    suite = [name for name in dir(ReplayGuardContract) if name.startswith("test_")]
    passed = len(suite) - 1 + RULES_TEST.count("\ndef test_")
    assert re.search(rf"\b{passed} passed, 1 skipped\b", report), report
    assert "set purge_every and stored" in report, report  # the one optional hook, named
