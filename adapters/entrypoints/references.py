"""`serve --operation MODULE:NAME`: an embedder's declared operation, named by where it
lives, served beside the library's.

`operation_reference` is the flag's (and `ARCHIVE_CORE_OPERATIONS`'s) type: it checks
the form only, `a.dotted.module:NAME`. `load_operation` imports the module and returns
the `Declaration` it names; every way that fails is `BadOperation`, whose one line
names the reference and the cause (the command prints it and exits with status 2). The
settings carry references, not declarations: each worker process loads them itself.

Modules are imported as uvicorn imports an application: from the current directory
first, so `archive-core serve --operation myproject.operations:RENAME` works where
`myproject` is, without installing it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from typing import Any, Final

from archive_core.declarations import Declaration

__all__ = ["BadOperation", "load_operation", "operation_reference"]

_REFERENCE: Final = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*", re.ASCII)
_FORM: Final = "must be MODULE:NAME, as in myproject.operations:RENAME_USER"


class BadOperation(ValueError):
    """An `--operation` reference that names no declaration."""


def operation_reference(text: str) -> str:
    """`text` when it has the form `a.dotted.module:NAME` (nothing is imported here)."""
    if _REFERENCE.fullmatch(text) is None:
        raise argparse.ArgumentTypeError(_FORM)
    return text


def load_operation(reference: str) -> Declaration[Any]:
    """The declaration `reference` (`MODULE:NAME`) names, its module imported."""
    if _REFERENCE.fullmatch(reference) is None:
        raise BadOperation(f"--operation {reference!r}: {_FORM}")
    module_name, _, name = reference.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        cause = " ".join(str(exc).split())
        raise BadOperation(
            f"--operation {reference}: cannot import {module_name}: {cause}"
        ) from None
    except Exception as exc:
        # the module's own code failed: its type only (its text might quote a setting)
        raise BadOperation(
            f"--operation {reference}: importing {module_name} raised {type(exc).__name__}"
        ) from None
    found = getattr(module, name, None)
    if found is None:
        raise BadOperation(f"--operation {reference}: {module_name} has no {name}")
    if not isinstance(found, Declaration):
        raise BadOperation(
            f"--operation {reference}: {name} is a {type(found).__name__}, "
            "not an archive_core.Declaration"
        )
    return found
