"""Entry points: the `archive-core` command line (`cli`), the reference server on uvicorn
(`server`: one process or a background thread; `serving`: workers, metrics, logging), the
demo, and the generator of the generated documentation pages (`python -m
adapters.entrypoints.docs`).

Only the servers are imported here: the command-line modules run as `python -m`.
"""

from adapters.entrypoints.server import (
    STACKS,
    BackgroundServer,
    HeadBoundH11Protocol,
    ReadyServer,
    installed_stack,
    uvicorn_config,
)
from adapters.entrypoints.serving import ServeSettings, serve

__all__ = [
    "STACKS",
    "BackgroundServer",
    "HeadBoundH11Protocol",
    "ReadyServer",
    "ServeSettings",
    "installed_stack",
    "serve",
    "uvicorn_config",
]
