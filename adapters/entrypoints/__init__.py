"""Entry points: the `archive-core` command line (`cli`), the reference server on uvicorn
(`server`: one process or a background thread; `serving`: workers, metrics, logging), the
demo, and the generator of the generated documentation pages (`python -m
adapters.entrypoints.docs`).

Only the ways to run the reference server are named here (`serve` with its
`ServeSettings`, `BackgroundServer`): the command-line modules run as `python -m`.
"""

from adapters.entrypoints.server import BackgroundServer
from adapters.entrypoints.serving import ServeSettings, serve

__all__ = ["BackgroundServer", "ServeSettings", "serve"]
