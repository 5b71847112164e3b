"""Open storage from a URL: the one place that turns a configuration string into adapters.

    open_storage("archive.db")                                   # SQLite file (the default)
    open_storage("sqlite:///relative/archive.db")                # SQLAlchemy's convention:
    open_storage("sqlite:////var/lib/archive-core/archive.db")   # 3 slashes relative, 4 absolute
    open_storage("postgresql://user@db/app?schema=archive_core&pool_size=20")
    open_storage("host=db user=app dbname=app schema=archive_core")   # libpq keywords
    open_storage("postgresql://user@db/app", replay_url="redis://cache:6379/0?prefix=ac:")
    open_storage("memory:")                                      # tests and demos

What each gives:

| URL | units of work, signing keys | challenges and nonces (default) |
| --- | --- | --- |
| path / `sqlite:` | the SQLite file | a second SQLite file, `<path>-replay` |
| `postgresql:`, keywords | the schema (default `archive_core`) | the same schema, autocommit |
| `memory:` | process memory | process memory |

`replay_url` moves challenges and nonces elsewhere: `redis://…` / `rediss://…`
(option `prefix`), or a SQLite path / `sqlite:` URL.

Options are query parameters (or, in a libpq keyword string, keywords) and are removed
before the string reaches the driver, which gets the rest as written: SQLite
`synchronous` (FULL, the default, or NORMAL/EXTRA), `busy_timeout` (seconds),
`purge_every`, `replay` (the replay file's path); PostgreSQL `schema`, `pool_size`,
`timeout` (seconds), `purge_every`; Redis `prefix`. Numbers are ASCII digits (seconds
may have a decimal part). Anything else in a PostgreSQL or Redis string is refused
unless the driver documents it (`dsn.py`), as is a malformed percent-encoding or a
Redis database that is not a number: a `ValueError` whose one line never repeats a
value.

`open_storage(commit_timeout=…)` bounds each PostgreSQL commit's wait for a synchronous
standby (`postgres.py`; by default `DEFAULT_COMMIT_TIMEOUT`, 5 s); SQLite and memory
commits wait on no standby and ignore it. A multi-host URL
(`postgresql://u@h1:5432,h2:5432/app?target_session_attrs=read-write`, or the keywords
`host=h1,h2 port=5432,5432 target_session_attrs=read-write`) reaches whichever host is
the primary, after a failover too (docs/operations.md, "High availability").

`Storage.waits` says which of the stores' calls may wait on a lock held across I/O, an
fsync or the network (`Waits`): the transport answers a request that makes such a call
in a worker thread, and any other on its event loop (docs/http.md, "Threads"). Each
adapter says it of itself (`reads_wait`, `writes_wait`); one that does not say may wait.

A store that cannot be opened raises `StorageStartError`, whose text is one line for an
operator: the store, its address (never a password) and the driver's own cause (with
any password in it replaced by `***`), e.g.
`cannot reach PostgreSQL at postgres@127.0.0.1:5432/app: role "x" does not exist`; a
driver that is not installed names the extra that brings it
(`PostgreSQL support is not installed: pip install 'archive-core[postgres]'`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final, Self
from urllib.parse import parse_qsl, urlsplit

import attrs

from adapters.storage.dsn import is_keyword_string, postgres_target, redact, redis_target
from adapters.storage.memory import (
    MemoryChallengeStore,
    MemoryReplayGuard,
    MemorySigningKeyStore,
    MemoryStore,
)
from adapters.storage.sqlite import (
    DEFAULT_BUSY_TIMEOUT,
    DEFAULT_PURGE_EVERY,
    SqliteReplayStore,
    SqliteStore,
)
from archive_core.errors import StorageUnavailable
from archive_core.ports import (
    ChallengeStore,
    ReadingUnitOfWorkFactory,
    ReplayGuard,
    SigningKeyStore,
    UnitOfWorkFactory,
)

__all__ = ["Storage", "StorageStartError", "Waits", "database_kind", "open_storage"]


class StorageStartError(StorageUnavailable):
    """A store could not be opened; `str()` is one line an operator can act on."""


# The optional extra that brings each optional driver module.
_EXTRAS: Final = {"psycopg": "postgres", "psycopg_pool": "postgres", "redis": "redis"}


def _cause(exc: BaseException) -> str:
    """The driver's own words for why it failed, on one line."""
    cause = exc.__cause__ or exc
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    text = " ".join(str(cause).split()) or type(cause).__name__
    # libpq prefixes its cause with where it tried ("connection to server at … failed:")
    for marker in ("FATAL: ", "failed: "):
        if marker in text:
            text = text.rpartition(marker)[2]
            break
    return text


@contextmanager
def _opening(
    store: str, address: str, *, verb: str = "reach", secrets: tuple[str, ...] = ()
) -> Iterator[None]:
    """Turn a failure to open `store` into one `StorageStartError` (without `secrets`)."""
    try:
        yield
    except ModuleNotFoundError as exc:
        extra = _EXTRAS.get((exc.name or "").partition(".")[0])
        if extra is None:
            raise
        raise StorageStartError(
            f"{store} support is not installed: pip install 'archive-core[{extra}]'",
            store=store.lower(),
            driver_error=type(exc).__name__,
        ) from exc
    except StorageUnavailable as exc:
        if isinstance(exc, StorageStartError):
            raise
        raise StorageStartError(
            f"cannot {verb} {store} at {address}: {redact(_cause(exc), secrets)}",
            store=exc.store,
            driver_error=exc.driver_error,
        ) from exc


@attrs.frozen
class Waits:
    """Which calls of a deployment's stores may wait on a lock held across I/O, an fsync
    or the network (True), rather than run on the CPU alone (False)."""

    #: reading units of work (`ReadingUnitOfWorkFactory`) and signing-key reads
    reads: bool
    #: every other unit of work, the challenge store and signing-key writes
    writes: bool
    #: the replay guard's nonce burns
    nonces: bool


def _waits(port: object, calls: str) -> bool:
    """What `port` says of its `calls` (`reads_wait`, `writes_wait`); unsaid: it may wait."""
    return getattr(port, calls, True) is not False


@attrs.define
class Storage:
    """The storage ports of one deployment, and how to close them."""

    uow_factory: UnitOfWorkFactory
    challenges: ChallengeStore
    replay_guard: ReplayGuard
    signing_keys: SigningKeyStore
    closers: list[Callable[[], None]] = attrs.field(factory=list)

    @property
    def waits(self) -> Waits:
        """Which of these stores' calls may wait (each adapter says it of itself)."""
        factory = self.uow_factory
        # A factory without reading units reads in its ordinary ones.
        reading = isinstance(factory, ReadingUnitOfWorkFactory)
        return Waits(
            reads=_waits(factory, "reads_wait" if reading else "writes_wait")
            or _waits(self.signing_keys, "reads_wait"),
            writes=_waits(factory, "writes_wait")
            or _waits(self.challenges, "writes_wait")
            or _waits(self.signing_keys, "writes_wait"),
            nonces=_waits(self.replay_guard, "writes_wait"),
        )

    def close(self) -> None:
        """Close every connection this bundle opened (idempotent)."""
        closers, self.closers = self.closers, []
        for close in reversed(closers):
            close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_WHOLE: Final = re.compile(r"[0-9]{1,9}")
_SECONDS: Final = re.compile(r"[0-9]{1,6}(\.[0-9]{1,6})?")


def _whole(options: dict[str, str], name: str, default: int) -> int:
    """Option `name`, a whole number of at least 1 in ASCII digits."""
    text = options.get(name)
    if text is None:
        return default
    if _WHOLE.fullmatch(text) is None or int(text) < 1:
        raise ValueError(f"the URL option {name} must be a whole number of at least 1")
    return int(text)


def _seconds(options: dict[str, str], name: str, default: float) -> float:
    """Option `name`, a number of seconds in ASCII digits (`2`, `0.5`)."""
    text = options.get(name)
    if text is None:
        return default
    if _SECONDS.fullmatch(text) is None:
        raise ValueError(f"the URL option {name} must be a number of seconds, as in 2 or 0.5")
    return float(text)


_SQLITE_OPTIONS = frozenset({"synchronous", "busy_timeout", "purge_every", "replay"})
_POSTGRES_OPTIONS = frozenset({"schema", "pool_size", "timeout", "purge_every"})
_REDIS_OPTIONS = frozenset({"prefix"})


def _scheme(url: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    # A one-letter "scheme" is a Windows drive (C:\...): a path.
    return "" if len(scheme) == 1 else scheme


def _sqlite_path(url: str) -> tuple[str, dict[str, str]]:
    if _scheme(url) != "sqlite":
        return url, {}
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = set(options) - _SQLITE_OPTIONS
    if unknown:
        raise ValueError(f"unknown sqlite: URL options {sorted(unknown)}")
    if parts.netloc:
        raise ValueError("a sqlite: URL has no host: use sqlite:///relative or sqlite:////absolute")
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path:
        raise ValueError("a sqlite: URL needs a file path")
    return path, options


def _open_sqlite(url: str, replay_url: str | None) -> Storage:
    path, options = _sqlite_path(url)
    synchronous = options.get("synchronous", "FULL")
    busy_timeout = _seconds(options, "busy_timeout", DEFAULT_BUSY_TIMEOUT)
    purge_every = _whole(options, "purge_every", DEFAULT_PURGE_EVERY)
    with _opening("SQLite", path, verb="open"):
        store = SqliteStore(
            path, synchronous=synchronous, busy_timeout=busy_timeout, purge_every=purge_every
        )
    try:
        replay = _open_replay(
            replay_url or options.get("replay") or f"{path}-replay",
            synchronous=synchronous,
            busy_timeout=busy_timeout,
            purge_every=purge_every,
        )
    except BaseException:
        store.close()
        raise
    return Storage(
        uow_factory=store,
        challenges=replay.challenges,
        replay_guard=replay.replay_guard,
        signing_keys=store.signing_keys,
        closers=[store.close, replay.close],
    )


def _open_postgres(url: str, replay_url: str | None, commit_timeout: float | None) -> Storage:
    target = postgres_target(url, ours=_POSTGRES_OPTIONS)
    options = dict(target.options)
    pool_size = _whole(options, "pool_size", 10)
    timeout = _seconds(options, "timeout", 10.0)
    purge_every = _whole(options, "purge_every", DEFAULT_PURGE_EVERY)
    with _opening("PostgreSQL", target.address, secrets=target.secrets):
        # psycopg is an optional dependency: imported only when PostgreSQL is used.
        from adapters.storage.postgres import (  # noqa: PLC0415
            DEFAULT_COMMIT_TIMEOUT,
            DEFAULT_SCHEMA,
            PostgresStore,
        )

        store = PostgresStore(
            target.dsn,
            schema=options.get("schema", DEFAULT_SCHEMA),
            pool_size=pool_size,
            timeout=timeout,
            purge_every=purge_every,
            commit_timeout=DEFAULT_COMMIT_TIMEOUT if commit_timeout is None else commit_timeout,
        )
    if replay_url is None:
        return Storage(
            uow_factory=store,
            challenges=store.challenges,
            replay_guard=store.replay_guard,
            signing_keys=store.signing_keys,
            closers=[store.close],
        )
    try:
        replay = _open_replay(replay_url)
    except BaseException:
        store.close()
        raise
    return Storage(
        uow_factory=store,
        challenges=replay.challenges,
        replay_guard=replay.replay_guard,
        signing_keys=store.signing_keys,
        closers=[store.close, replay.close],
    )


def _open_memory(replay_url: str | None) -> Storage:
    if replay_url is None:
        return Storage(
            uow_factory=MemoryStore(),
            challenges=MemoryChallengeStore(),
            replay_guard=MemoryReplayGuard(),
            signing_keys=MemorySigningKeyStore(),
        )
    replay = _open_replay(replay_url)
    return Storage(
        uow_factory=MemoryStore(),
        challenges=replay.challenges,
        replay_guard=replay.replay_guard,
        signing_keys=MemorySigningKeyStore(),
        closers=[replay.close],
    )


@attrs.frozen
class _Replay:
    challenges: ChallengeStore
    replay_guard: ReplayGuard
    close: Callable[[], None]


def _open_replay(
    url: str,
    *,
    synchronous: str = "FULL",
    busy_timeout: float | None = None,
    purge_every: int = DEFAULT_PURGE_EVERY,
) -> _Replay:
    """The challenge store and replay guard `url` names."""
    scheme = _scheme(url)
    if scheme in ("redis", "rediss", "unix"):
        target = redis_target(url, ours=_REDIS_OPTIONS)
        with _opening("Redis", target.address, secrets=target.secrets):
            # redis-py is an optional dependency: imported only when a redis: URL is used.
            from adapters.storage.redis import (  # noqa: PLC0415
                DEFAULT_PREFIX,
                RedisChallengeStore,
                RedisReplayGuard,
                open_redis,
            )

            client = open_redis(target.dsn)
        prefix = target.options.get("prefix", DEFAULT_PREFIX)
        return _Replay(
            challenges=RedisChallengeStore(client, prefix=prefix),
            replay_guard=RedisReplayGuard(client, prefix=prefix),
            close=client.close,
        )
    if scheme in ("", "sqlite"):
        path, options = _sqlite_path(url)
        with _opening("SQLite", path, verb="open"):
            store = SqliteReplayStore(
                path,
                synchronous=options.get("synchronous", synchronous),
                busy_timeout=_seconds(
                    options, "busy_timeout", busy_timeout or DEFAULT_BUSY_TIMEOUT
                ),
                purge_every=_whole(options, "purge_every", purge_every),
            )
        return _Replay(
            challenges=store.challenges, replay_guard=store.replay_guard, close=store.close
        )
    raise ValueError(f"no replay store for URLs of scheme {scheme!r}")


def database_kind(url: str) -> str:
    """`postgresql`, `sqlite` or `memory`: the database a `db_url` names."""
    scheme = _scheme(url)
    if scheme in ("postgresql", "postgres") or is_keyword_string(url, _POSTGRES_OPTIONS):
        return "postgresql"
    if url in ("memory:", "memory://"):
        return "memory"
    if scheme in ("", "sqlite"):
        return "sqlite"
    raise ValueError(f"no storage for URLs of scheme {scheme!r}")


def open_storage(
    url: str | os.PathLike[str],
    *,
    replay_url: str | None = None,
    commit_timeout: float | None = None,
) -> Storage:
    """Open the storage a URL (or a file path) names; see the module docstring."""
    text = os.fspath(url)
    kind = database_kind(text)
    if kind == "memory":
        return _open_memory(replay_url)
    if kind == "sqlite":
        return _open_sqlite(text, replay_url)
    return _open_postgres(text, replay_url, commit_timeout)
