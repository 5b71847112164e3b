"""Suite-wide settings: hypothesis profiles, and a run that executes no test is a failure."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100
)
settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=300
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Turn a green run that executed nothing into a failure (CI must prove something).
    Under pytest-xdist the controller judges, which sees every worker's results."""
    if hasattr(session.config, "workerinput"):  # a worker: its share may be all skips
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or exitstatus != 0:
        return
    passed = len(reporter.stats.get("passed", []))
    if passed == 0:
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
