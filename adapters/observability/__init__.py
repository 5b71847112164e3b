"""What an operator sees of a running server: readiness of the stores, log formats, and
(`adapters.observability.metrics`, extra `[metrics]`) Prometheus metrics.

The package names what an embedder's own server uses: the readiness of a deployment's
stores (`Readiness`, which `deployment.readiness` is, and its `ReadinessReport`) and
the log format (`log_config`, `JsonFormatter`, `RequestContextFilter`). The metrics
module is not imported here: it needs `prometheus-client`, an optional extra.
"""

from adapters.observability.health import Readiness, ReadinessReport
from adapters.observability.logs import JsonFormatter, RequestContextFilter, log_config

__all__ = ["JsonFormatter", "Readiness", "ReadinessReport", "RequestContextFilter", "log_config"]
