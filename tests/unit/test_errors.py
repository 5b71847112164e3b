"""Storage failures say which store failed and the driver's error class, nothing more."""

from __future__ import annotations

from archive_core.errors import StorageUnavailable


def test_a_storage_failure_names_its_store_and_driver_error() -> None:
    failure = StorageUnavailable(
        "cannot connect", store="postgresql", driver_error="OperationalError"
    )
    assert (failure.store, failure.driver_error, str(failure)) == (
        "postgresql",
        "OperationalError",
        "cannot connect",
    )
    assert (StorageUnavailable().store, StorageUnavailable().driver_error) == ("", "")
