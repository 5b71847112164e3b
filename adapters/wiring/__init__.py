"""Wiring: the one composition root (`build`) and what operators do with a deployment.

    from adapters.wiring import build, bootstrap_org, create_user

`build` is used alike by production (`archive-core serve`), the testing kit and the
documentation; nothing else wires the use cases.
"""

from adapters.wiring.bootstrap import (
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    BearerTokens,
    Deployment,
    build,
)
from adapters.wiring.operations import (
    AuditCheck,
    NewOrg,
    NewUser,
    OperatorError,
    add_credential,
    bootstrap_org,
    check_audit,
    create_user,
)

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_ISSUER",
    "AuditCheck",
    "BearerTokens",
    "Deployment",
    "NewOrg",
    "NewUser",
    "OperatorError",
    "add_credential",
    "bootstrap_org",
    "build",
    "check_audit",
    "create_user",
]
