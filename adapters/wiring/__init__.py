"""Wiring: the one composition root (`build`) and what operators do with a deployment.

    from adapters.wiring import build, bootstrap_org, create_user

`build` is used alike by production (`archive-core serve`), the testing kit and the
documentation; nothing else wires the use cases. The package names what an embedder
does with a deployment: `build` and its `Deployment` (whose `issue_bearer_token` an
application's own login calls), `bootstrap_org` (a `NewOrg`) and `create_user` (a
`NewUser`); a refused input is an `OperatorError`. The command line's other operations
stay in `adapters.wiring.operations`.
"""

from adapters.wiring.bootstrap import Deployment, build
from adapters.wiring.operations import (
    NewOrg,
    NewUser,
    OperatorError,
    bootstrap_org,
    create_user,
)

__all__ = [
    "Deployment",
    "NewOrg",
    "NewUser",
    "OperatorError",
    "bootstrap_org",
    "build",
    "create_user",
]
