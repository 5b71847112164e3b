"""Storage adapters: memory, SQLite, PostgreSQL (transactional) and Redis (replay stores).

    from adapters.storage import open_storage

`open_storage(url)` is the one place that turns a configuration string into adapters;
each backend's module (`memory`, `sqlite`, `postgres`, `redis`) holds its adapters, and
the PostgreSQL and Redis ones import their optional drivers only when used.
"""

from adapters.storage.codec import (
    audit_from_json,
    audit_to_json,
    micros,
    user_action_from_json,
    user_action_to_json,
)
from adapters.storage.memory import (
    MemoryChallengeStore,
    MemoryReplayGuard,
    MemorySigningKeyStore,
    MemoryStore,
)
from adapters.storage.urls import Storage, StorageStartError, Waits, open_storage

__all__ = [
    "MemoryChallengeStore",
    "MemoryReplayGuard",
    "MemorySigningKeyStore",
    "MemoryStore",
    "Storage",
    "StorageStartError",
    "Waits",
    "audit_from_json",
    "audit_to_json",
    "micros",
    "open_storage",
    "user_action_from_json",
    "user_action_to_json",
]
