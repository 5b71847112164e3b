"""Regenerate the documentation pages that are generated from code
(`python -m adapters.entrypoints.docs`).

`docs/permissions.md` comes from the permission matrices, `docs/errors.md` from the
error catalogue; tests fail when either file is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from archive_core.entities import FULL_ADMIN
from archive_core.errors import Catalogue
from archive_core.operations import KNOWN_PERMISSIONS, PRESETS, SDK_PERMISSIONS
from archive_core.permissions import render_matrix_markdown

__all__ = ["render_errors_markdown", "render_permissions_markdown", "write_generated_docs"]


def render_permissions_markdown() -> str:
    """docs/permissions.md: every preset of the permission matrix, then the known
    permissions."""
    lines = [
        "",
        "## Known permissions",
        "",
        "What `archive-core users create --permission` accepts (`KNOWN_PERMISSIONS`): every",
        f"permission a preset names, `{FULL_ADMIN}`, and those the official SDKs name for",
        "the user and audit-log endpoints served next:",
        ", ".join(f"`{p}`" for p in SDK_PERMISSIONS) + ".",
        "",
    ]
    lines += [f"- `{permission}`" for permission in sorted(KNOWN_PERMISSIONS)]
    return render_matrix_markdown(list(PRESETS.values())) + "\n".join(lines) + "\n"


def render_errors_markdown() -> str:
    """docs/errors.md: every status, message and machine code the library answers with."""
    lines = [
        "# Errors",
        "",
        "Generated from `archive_core/errors.py` by `python -m adapters.entrypoints.docs`;",
        "a test fails when this file is stale. Every error body is",
        '`{"error": {"id": "<id>", "message": "<message>", "status": <status>, "code": "<code>"}}`',
        "(`status` is the HTTP status as an integer, as today's API carries it), with an optional",
        '`"reason"` naming the exact check that failed (machine-readable, never an echo of',
        'input) and, where there is more to say, `"details"` (an object). Messages and codes',
        "are stable: clients may match on them. `id` (`er-…`) is the answer's own, made by the",
        "server for it (never the request's `X-Request-Id`): the server's log line for that",
        "answer, written at WARNING (ERROR for a 500) and so at the default log level, names",
        "it as `id=er-…` (`error_id` in JSON logs), so that an operator finds what a user reports.",
        "",
        "The permission denial's message is built per request:",
        "`<Kind> <id> is not authorized to perform operation (<permissions>)` — the caller's",
        "kind and id, then the missing permissions in the matrix's order, joined by `, `.",
        "A body error names the field: `The request body is invalid: <field> is missing or",
        "malformed.` (or, for the init body, what the field must be). A username refusal",
        "names what is wrong: `The username is not acceptable: <what>.`, <what> being",
        "`it is empty`, `it is longer than 254 characters`, `it holds a control character",
        "(U+000A)`, `it holds a bidirectional control character (U+202E)` or `it holds a",
        "character that is not printable (U+200B)` (the first such character's code point).",
        "",
        "The order of checks decides which error wins (SPEC §4): headers (400) →",
        "authentication (401) → user action token (403 / 400 replay) → `Auth:Users:Update`",
        "(403) → id syntax (400) → target look-up (404) → type permission (403) → archive",
        "rules (400).",
    ]
    titles = {
        "api": "From the API's error catalogue (verbatim)",
        "library": "The library's own",
        "transport": "The HTTP transport's own",
    }
    for origin, title in titles.items():
        lines += [
            "",
            f"## {title}",
            "",
            "| Status | Code | Message | When |",
            "| --- | --- | --- | --- |",
        ]
        lines += [
            f"| {k.status} | `{k.code}` | `{k.message}` | {k.when} |"
            for k in Catalogue.all()
            if k.origin == origin
        ]
    return "\n".join(lines) + "\n"


def write_generated_docs(root: Path) -> list[Path]:
    """Write every generated page under `root/docs`; return the paths written."""
    pages = {
        "permissions.md": render_permissions_markdown(),
        "errors.md": render_errors_markdown(),
    }
    written = []
    for name, text in pages.items():
        path = root / "docs" / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_generated_docs(Path(sys.argv[1] if len(sys.argv) > 1 else ".")):
        sys.stdout.write(f"wrote {written_path}\n")
