"""Every `python` code block in README.md and docs/*.md runs.

A document's blocks run in order in one namespace (a later block may use what an
earlier one defined), which starts with `service`: a `Service` wired to in-memory
storage, as the composition root would hand it to an embedding.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from adapters.testing.world import World

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _blocks(path: Path) -> list[str]:
    return _BLOCK.findall(path.read_text(encoding="utf-8"))


WITH_CODE = [path for path in DOCUMENTS if _blocks(path)]


def test_the_docs_have_code_to_run() -> None:
    assert sum(len(_blocks(path)) for path in DOCUMENTS) >= 8


@pytest.mark.parametrize("path", WITH_CODE, ids=lambda p: p.name)
def test_code_blocks_run(path: Path) -> None:
    namespace: dict[str, Any] = {"service": World().service(), "__name__": f"docs_{path.stem}"}
    for index, block in enumerate(_blocks(path)):
        try:
            exec(compile(block, f"{path.name}[{index}]", "exec"), namespace)  # noqa: S102 - our own docs
        except Exception as exc:  # pragma: no cover - reported with the block that failed
            raise AssertionError(f"{path.name} block {index} failed: {exc!r}\n{block}") from exc
