"""PostgreSQL and Redis connection strings, taken apart strictly before any driver sees
them: what the driver gets, which options are ours, what an operator may be shown.

    postgresql://user:secret@db:5432/app?schema=archive_core&sslmode=require
    postgresql://user@db1:5432,db2:5432/app?target_session_attrs=read-write
    host=db port=5432 user=app dbname=app schema=archive_core        (libpq keywords)
    redis://:secret@cache:6379/0?prefix=ac:

- **The driver gets the string as written**, less our own options (`schema`,
  `pool_size`, … as query parameters or as keywords): no re-encoding, so multi-host
  lists, `options=-c%20…` and quoted keyword values reach libpq unchanged.
- **Refused, on one line that never repeats a value**: a malformed percent-encoding
  (libpq's own message would quote it, password included), a port that is not 1 to
  65535 in ASCII digits, a query parameter or keyword that is neither ours nor one of
  libpq's (`LIBPQ_KEYWORDS`; the refusal names the parameter), a keyword string that
  does not parse, our own option given twice; for Redis, a database that is not a
  number (redis-py would quietly use database 0) and parameters redis-py does not take.
- **The address** (`user@host:port/db`, each host of a list) names what is reached,
  never a password; `secrets` lists the passwords so that a driver's message can be
  cleared of them (`redact`).

A keyword string is recognised by its first word: a libpq keyword or one of our
options followed by `=`. (A SQLite file whose name starts that way is written
`./dbname=x.db` or `sqlite:///dbname=x.db`.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Final
from urllib.parse import unquote

import attrs

__all__ = [
    "LIBPQ_KEYWORDS",
    "REDIS_PARAMETERS",
    "Target",
    "is_keyword_string",
    "postgres_target",
    "redact",
    "redis_target",
]

#: libpq's connection parameters ("Parameter Key Words", PostgreSQL 15, with 16 and
#: 17's additions), and `ssl`, which libpq accepts in URLs for JDBC's sake.
LIBPQ_KEYWORDS: Final = frozenset(
    {
        "host", "hostaddr", "port", "dbname", "user", "password", "passfile",
        "require_auth", "channel_binding", "connect_timeout", "client_encoding", "options",
        "application_name", "fallback_application_name", "keepalives", "keepalives_idle",
        "keepalives_interval", "keepalives_count", "tcp_user_timeout", "replication",
        "gssencmode", "sslmode", "requiressl", "sslnegotiation", "sslcompression",
        "sslcert", "sslkey", "sslpassword", "sslcertmode", "sslrootcert", "sslcrl",
        "sslcrldir", "sslsni", "requirepeer", "ssl_min_protocol_version",
        "ssl_max_protocol_version", "krbsrvname", "gsslib", "gssdelegation", "service",
        "target_session_attrs", "load_balance_hosts", "ssl",
    }
)  # fmt: skip

#: Query parameters redis-py reads from a URL, for every scheme.
REDIS_PARAMETERS: Final = frozenset(
    {
        "db", "socket_timeout", "socket_connect_timeout", "socket_keepalive",
        "retry_on_timeout", "max_connections", "health_check_interval", "client_name",
        "protocol",
    }
)  # fmt: skip
#: … and for `rediss://` (TLS) only.
_REDIS_TLS_PARAMETERS: Final = frozenset(
    {"ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname"}
)

# Keywords whose values are secrets: never shown, cleared from drivers' messages.
_SECRET_KEYWORDS: Final = frozenset({"password", "sslpassword"})
_MALFORMED_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PORT: Final = re.compile(r"[0-9]{1,5}")
_KEYWORD_START: Final = re.compile(r"\s*([A-Za-z_]+)\s*=")
# Redis numbers its databases from 0; SELECT takes a 32-bit index.
_REDIS_DB: Final = re.compile(r"[0-9]{1,10}")
_REDIS_MAX_DB: Final = 2**31 - 1


@attrs.frozen
class Target:
    """A connection string taken apart (see the module's doc)."""

    #: what the driver gets: the string as written, without our options
    dsn: str
    #: our options, by name
    options: Mapping[str, str]
    #: `user@host:port/db`, for messages: never a password
    address: str
    #: the passwords in the string, as written and decoded
    secrets: tuple[str, ...] = ()


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every secret replaced by `***` (longest first)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _check_percent(text: str, store: str, part: str) -> None:
    if _MALFORMED_PERCENT.search(text):
        raise ValueError(
            f"the {store} URL has a malformed percent-encoding in its {part} "
            "(a % must be followed by two hexadecimal digits)"
        )


def _check_port(text: str, store: str) -> None:
    if _PORT.fullmatch(text) is None or not 1 <= int(text) <= 65535:
        raise ValueError(f"a {store} port must be a number from 1 to 65535")


def _host_and_port(spec: str, store: str) -> tuple[str, str | None]:
    """`host`, `host:port`, `[v6]`, `[v6]:port` → host, port (None when absent)."""
    if spec.startswith("["):
        host, bracket, rest = spec.partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"the {store} URL has a malformed [IPv6] host")
        host, port = host + "]", rest[1:] if rest else None
    else:
        host, colon, port_text = spec.partition(":")
        port = port_text if colon else None
    if port is not None:
        _check_port(port, store)
    return host, port


def _hosts(specs: list[tuple[str, str | None]], default_port: int) -> str:
    return ",".join(f"{unquote(h) or 'localhost'}:{p or default_port}" for h, p in specs)


@attrs.frozen
class _Query:
    """A URL's query: the driver's parameters as written, ours decoded."""

    kept: str
    ours: dict[str, str]
    theirs: dict[str, str]


def _query(query: str, *, store: str, ours: frozenset[str], theirs: frozenset[str]) -> _Query:
    kept: list[str] = []
    options: dict[str, str] = {}
    others: dict[str, str] = {}
    for piece in query.split("&"):
        if not piece:
            continue
        raw_name, equals, raw_value = piece.partition("=")
        name = unquote(raw_name)
        if not equals:
            raise ValueError(f"the {store} URL parameter {name!r} has no value (name=value)")
        if name in ours:
            if name in options:
                raise ValueError(f"the {store} URL gives {name!r} twice")
            options[name] = unquote(raw_value)
        elif name in theirs:
            others[name] = unquote(raw_value)
            kept.append(piece)
        else:
            raise ValueError(f"unknown {store} URL parameter {name!r}")
    return _Query("&".join(kept), options, others)


def _split_url(url: str) -> tuple[str, str, str, str]:
    """`scheme://netloc/path?query` → scheme, netloc, path, query, as written."""
    scheme, _, rest = url.partition("://")
    netloc_end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    netloc, tail = rest[:netloc_end], rest[netloc_end:]
    path, _, query = tail.partition("?")
    return scheme, netloc, path, query


def _userinfo(netloc: str) -> tuple[str, str | None, str]:
    """user, password (None when absent), hosts — as written."""
    userinfo, at, hosts = netloc.partition("@")
    if not at:
        return "", None, netloc
    user, colon, password = userinfo.partition(":")
    return user, password if colon else None, hosts


def _secrets(password: str | None) -> tuple[str, ...]:
    return () if not password else (password, unquote(password))


def _postgres_url(url: str, ours: frozenset[str]) -> Target:
    if "://" not in url:
        raise ValueError("a PostgreSQL URL begins postgresql:// or postgres://")
    scheme, netloc, path, query = _split_url(url)
    user, password, hosts = _userinfo(netloc)
    # Checked part by part, so that the message can say where without quoting it.
    for text, part in ((user, "user name"), (password or "", "password"), (hosts, "host")):
        _check_percent(text, "PostgreSQL", part)
    _check_percent(path, "PostgreSQL", "database name")
    _check_percent(query, "PostgreSQL", "query")
    specs = [_host_and_port(spec, "PostgreSQL") for spec in hosts.split(",")] if hosts else []
    parsed = _query(query, store="PostgreSQL", ours=ours, theirs=LIBPQ_KEYWORDS)
    secrets = _secrets(password) + tuple(
        v for k, v in parsed.theirs.items() if k in _SECRET_KEYWORDS
    )
    if not specs and "host" in parsed.theirs:
        specs = [(parsed.theirs["host"], parsed.theirs.get("port"))]
    who = unquote(user) or parsed.theirs.get("user", "")
    address = f"{who + '@' if who else ''}{_hosts(specs or [('', None)], 5432)}{path or '/'}"
    dsn = f"{scheme}://{netloc}{path}" + (f"?{parsed.kept}" if parsed.kept else "")
    return Target(dsn=dsn, options=parsed.ours, address=address, secrets=secrets)


@attrs.frozen
class _Keyword:
    name: str
    value: str
    raw: str  # `name=value` as written


def _keywords(text: str) -> Iterator[_Keyword]:
    """libpq's keyword/value grammar: `name = value`, values bare or in single quotes,
    a backslash escaping the next character. Errors never quote a value."""
    refusal = "the PostgreSQL connection string cannot be parsed"
    at, end = 0, len(text)
    while True:
        while at < end and text[at].isspace():
            at += 1
        if at == end:
            return
        start = at
        while at < end and text[at] != "=" and not text[at].isspace():
            at += 1
        name = text[start:at]
        while at < end and text[at].isspace():
            at += 1
        if at == end or text[at] != "=" or not name:
            raise ValueError(f"{refusal}: each setting is keyword=value")
        at += 1
        while at < end and text[at].isspace():
            at += 1
        quoted = at < end and text[at] == "'"
        at += quoted
        value: list[str] = []
        while at < end and (text[at] != "'" if quoted else not text[at].isspace()):
            if text[at] == "\\" and at + 1 < end:
                at += 1
            value.append(text[at])
            at += 1
        if quoted:
            if at == end:
                raise ValueError(f"{refusal}: a quoted value is not closed")
            at += 1
        yield _Keyword(name, "".join(value), text[start:at])


def is_keyword_string(text: str, ours: frozenset[str]) -> bool:
    """Whether `text` is a libpq keyword string (its first word names a keyword)."""
    match = _KEYWORD_START.match(text)
    return match is not None and match.group(1) in LIBPQ_KEYWORDS | ours


def _postgres_keywords(text: str, ours: frozenset[str]) -> Target:
    kept: list[str] = []
    options: dict[str, str] = {}
    theirs: dict[str, str] = {}
    for keyword in _keywords(text):
        if keyword.name in ours:
            if keyword.name in options:
                raise ValueError(f"the PostgreSQL connection string gives {keyword.name!r} twice")
            options[keyword.name] = keyword.value
        elif keyword.name in LIBPQ_KEYWORDS:
            theirs[keyword.name] = keyword.value
            kept.append(keyword.raw)
        else:
            raise ValueError(f"unknown PostgreSQL connection keyword {keyword.name!r}")
    hosts = (theirs.get("host") or theirs.get("hostaddr") or "").split(",")
    ports = (theirs.get("port") or "").split(",")
    for port in ports:
        if port:
            _check_port(port, "PostgreSQL")
    if len(ports) == 1:  # one port for every host
        ports = ports * len(hosts)
    specs = [(host, ports[i] if i < len(ports) else None) for i, host in enumerate(hosts)]
    user = theirs.get("user", "")
    address = f"{user + '@' if user else ''}{_hosts(specs, 5432)}/{theirs.get('dbname', '')}"
    secrets = tuple(v for k, v in theirs.items() if k in _SECRET_KEYWORDS and v)
    return Target(dsn=" ".join(kept), options=options, address=address, secrets=secrets)


def postgres_target(text: str, *, ours: frozenset[str]) -> Target:
    """A `postgresql://` / `postgres://` URL or a libpq keyword string, taken apart."""
    if is_keyword_string(text, ours):
        return _postgres_keywords(text, ours)
    return _postgres_url(text, ours)


def _redis_db(text: str) -> None:
    if _REDIS_DB.fullmatch(text) is None or int(text) > _REDIS_MAX_DB:
        raise ValueError(
            f"the Redis database must be a number from 0 to {_REDIS_MAX_DB} (redis://host:6379/0)"
        )


def redis_target(url: str, *, ours: frozenset[str]) -> Target:
    """A `redis://`, `rediss://` or `unix://` URL, taken apart."""
    scheme, netloc, path, query = _split_url(url)
    # redis-py (urllib) ends the user and password at the last "@", the user at the first ":"
    userinfo, _, host = netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    for text, part in ((user, "user name"), (password, "password"), (host, "host")):
        _check_percent(text, "Redis", part)
    _check_percent(path, "Redis", "path")
    _check_percent(query, "Redis", "query")
    tls = scheme.lower() == "rediss"
    theirs = REDIS_PARAMETERS | (_REDIS_TLS_PARAMETERS if tls else frozenset())
    parsed = _query(query, store="Redis", ours=ours, theirs=theirs)
    if "db" in parsed.theirs:
        _redis_db(parsed.theirs["db"])
    dsn = f"{scheme}://{netloc}{path}" + (f"?{parsed.kept}" if parsed.kept else "")
    secrets = _secrets(password if colon else None)
    if scheme.lower() == "unix":  # the path is the socket's
        return Target(dsn=dsn, options=parsed.ours, address=unquote(path), secrets=secrets)
    database = path.removeprefix("/")
    if database:
        _redis_db(database)
    spec = _host_and_port(host, "Redis") if host else ("", None)
    who = unquote(user)
    address = f"{who + '@' if who else ''}{_hosts([spec], 6379)}{path or '/'}"
    return Target(dsn=dsn, options=parsed.ours, address=address, secrets=secrets)
