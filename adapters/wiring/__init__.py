"""Wiring: the one composition root (`build`) and what operators do with a deployment.

    from adapters.wiring import build, bootstrap_org, create_user

`build` is used alike by production (`archive-core serve`), the testing kit and the
documentation; nothing else wires the use cases. The package names what an embedder
does with a deployment: `build` and its `Deployment` (whose `bearer_tokens` is a
`BearerTokens`), `create_user` (a `NewUser`) and `bootstrap_org` (a `NewUser` and the
application's id); a refused input is an `OperatorError`. The command line's other
operations stay in `adapters.wiring.operations`.
"""

from adapters.wiring.bootstrap import BearerTokens, Deployment, build
from adapters.wiring.operations import NewUser, OperatorError, bootstrap_org, create_user

__all__ = [
    "BearerTokens",
    "Deployment",
    "NewUser",
    "OperatorError",
    "bootstrap_org",
    "build",
    "create_user",
]
