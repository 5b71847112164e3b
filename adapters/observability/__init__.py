"""What an operator sees of a running server: readiness of the stores, log formats, and
(`adapters.observability.metrics`, extra `[metrics]`) Prometheus metrics.

The metrics module is not imported here: it needs `prometheus-client`, an optional extra.
"""

from adapters.observability.health import (
    Readiness,
    ReadinessReport,
    StoreCheck,
    store_checks,
    store_names,
)
from adapters.observability.logs import (
    FORMATS,
    LEVELS,
    JsonFormatter,
    RequestContextFilter,
    log_config,
)

__all__ = [
    "FORMATS",
    "LEVELS",
    "JsonFormatter",
    "Readiness",
    "ReadinessReport",
    "RequestContextFilter",
    "StoreCheck",
    "log_config",
    "store_checks",
    "store_names",
]
