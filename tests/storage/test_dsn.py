"""Connection strings taken apart before a driver sees them: the driver gets them as
written less our options; anything else is one line that never repeats a value."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from adapters.storage.dsn import (
    LIBPQ_KEYWORDS,
    Target,
    is_keyword_string,
    postgres_target,
    redact,
    redis_target,
)

OURS = frozenset({"schema", "pool_size", "timeout", "purge_every"})
SECRET = "S3cr3t"


def _refusal(parse: Callable[[], object]) -> str:
    """The one-line message `parse` refuses with; it never holds the secret."""
    with pytest.raises(ValueError, match=r"\A[^\n]+\Z") as refused:
        parse()
    assert SECRET not in str(refused.value)
    return str(refused.value)


def test_a_url_reaches_the_driver_as_written_less_our_options() -> None:
    url = (
        f"postgresql://app:{SECRET}@db:5433/archive?schema=ac&sslmode=require"
        "&options=-c%20statement_timeout%3D5000&pool_size=3&application_name=a+b"
    )
    assert postgres_target(url, ours=OURS) == Target(
        dsn=f"postgresql://app:{SECRET}@db:5433/archive?sslmode=require"
        "&options=-c%20statement_timeout%3D5000&application_name=a+b",
        options={"schema": "ac", "pool_size": "3"},
        address="app@db:5433/archive",
        secrets=(SECRET, SECRET),
    )
    plain = "postgres://app@db/archive?sslmode=require"
    assert postgres_target(plain, ours=OURS).dsn == plain


def test_a_multi_host_url_is_kept_whole_and_shown_host_by_host() -> None:
    url = f"postgresql://u:{SECRET}@h1:5441,h2:5442,[::1]/db?target_session_attrs=read-write"
    target = postgres_target(url, ours=OURS)
    assert target.dsn == url
    assert target.address == "u@h1:5441,h2:5442,[::1]:5432/db"
    assert SECRET not in target.address


def test_every_libpq_keyword_passes_through() -> None:
    query = "&".join(f"{name}=1" for name in sorted(LIBPQ_KEYWORDS))
    target = postgres_target(f"postgresql://h/db?{query}", ours=OURS)
    assert target.dsn.endswith(query)
    assert {"target_session_attrs", "sslmode", "connect_timeout", "options"} <= LIBPQ_KEYWORDS


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            f"postgresql://postgres:{SECRET}%zz@127.0.0.1:5432/test",
            "the PostgreSQL URL has a malformed percent-encoding in its password "
            "(a % must be followed by two hexadecimal digits)",
        ),
        (
            f"postgresql://postgres:{SECRET}@127.0.0.1/te%st",
            "the PostgreSQL URL has a malformed percent-encoding in its database name "
            "(a % must be followed by two hexadecimal digits)",
        ),
        (
            f"postgresql://us%r:{SECRET}@h/db",
            "the PostgreSQL URL has a malformed percent-encoding in its user name "
            "(a % must be followed by two hexadecimal digits)",
        ),
        (
            f"postgresql://h/db?password={SECRET}%",
            "the PostgreSQL URL has a malformed percent-encoding in its query "
            "(a % must be followed by two hexadecimal digits)",
        ),
        (f"postgresql://u:{SECRET}@h/db?foo=bar", "unknown PostgreSQL URL parameter 'foo'"),
        (f"postgresql://u:{SECRET}@h/db?tty=x", "unknown PostgreSQL URL parameter 'tty'"),
        (
            f"postgresql://u:{SECRET}@h/db?sslmode",
            "the PostgreSQL URL parameter 'sslmode' has no value (name=value)",
        ),
        (
            f"postgresql://u:{SECRET}@h/db?schema=a&schema=b",
            "the PostgreSQL URL gives 'schema' twice",
        ),
        (
            f"postgresql://u:{SECRET}@h:٣/db",
            "a PostgreSQL port must be a number from 1 to 65535",
        ),
        (
            f"postgresql://u:{SECRET}@h1:5432,h2:70000/db",
            "a PostgreSQL port must be a number from 1 to 65535",
        ),
        (
            f"postgresql://u:pa/{SECRET}@h/db",  # an unencoded "/" ends the host part
            "a PostgreSQL port must be a number from 1 to 65535",
        ),
        (f"postgresql://u:{SECRET}@[::1/db", "the PostgreSQL URL has a malformed [IPv6] host"),
        ("postgresql:/h/db", "a PostgreSQL URL begins postgresql:// or postgres://"),
    ],
)
def test_a_bad_url_is_one_line_without_its_values(url: str, message: str) -> None:
    assert _refusal(lambda: postgres_target(url, ours=OURS)) == message


def test_a_keyword_string_is_postgresql_and_keeps_its_settings_as_written() -> None:
    text = (
        f"host=db1,db2 port=5441,5442 user=app password='{SECRET} x\\'y' dbname=archive "
        "schema=ac  options='-c statement_timeout=5000' pool_size = 4"
    )
    assert is_keyword_string(text, OURS)
    assert postgres_target(text, ours=OURS) == Target(
        dsn=f"host=db1,db2 port=5441,5442 user=app password='{SECRET} x\\'y' dbname=archive "
        "options='-c statement_timeout=5000'",
        options={"schema": "ac", "pool_size": "4"},
        address="app@db1:5441,db2:5442/archive",
        secrets=(f"{SECRET} x'y",),
    )
    one_port = postgres_target("hostaddr=10.0.0.1,10.0.0.2 port=6432 dbname=d", ours=OURS)
    assert one_port.address == "10.0.0.1:6432,10.0.0.2:6432/d"
    assert postgres_target("dbname=d", ours=OURS).address == "localhost:5432/d"


@pytest.mark.parametrize(
    "text", ["archive.db", "./host=x.db", "sqlite:///host=x.db", "bogus=1", "C:\\a=b.db", ""]
)
def test_what_is_not_a_keyword_string(text: str) -> None:
    assert not is_keyword_string(text, OURS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f"host=h password='{SECRET}",
            "the PostgreSQL connection string cannot be parsed: a quoted value is not closed",
        ),
        (
            f"host=h {SECRET}",
            "the PostgreSQL connection string cannot be parsed: each setting is keyword=value",
        ),
        (
            f"host=h ={SECRET}",
            "the PostgreSQL connection string cannot be parsed: each setting is keyword=value",
        ),
        (f"host=h colour={SECRET}", "unknown PostgreSQL connection keyword 'colour'"),
        (
            f"host=h port=54x password={SECRET}",
            "a PostgreSQL port must be a number from 1 to 65535",
        ),
        ("host=h schema=a schema=b", "the PostgreSQL connection string gives 'schema' twice"),
    ],
)
def test_a_bad_keyword_string_is_one_line_without_its_values(text: str, message: str) -> None:
    assert _refusal(lambda: postgres_target(text, ours=OURS)) == message


def test_a_redis_url_reaches_the_driver_less_our_options() -> None:
    url = f"redis://:{SECRET}@cache:6380/3?prefix=ac:&socket_timeout=2"
    assert redis_target(url, ours=frozenset({"prefix"})) == Target(
        dsn=f"redis://:{SECRET}@cache:6380/3?socket_timeout=2",
        options={"prefix": "ac:"},
        address="cache:6380/3",
        secrets=(SECRET, SECRET),
    )
    socket = redis_target("unix:///run/redis.sock?db=2", ours=frozenset())
    assert (socket.dsn, socket.address) == ("unix:///run/redis.sock?db=2", "/run/redis.sock")
    tls = redis_target("rediss://cache/0?ssl_cert_reqs=required", ours=frozenset())
    assert tls.address == "cache:6379/0"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        *(
            (
                f"redis://:{SECRET}@h:6379{path}",
                "the Redis database must be a number from 0 to 2147483647 (redis://host:6379/0)",
            )
            for path in ("/x", "/-1", "/99999999999", "/٣", "/0/1", "/?db=x", "/1?db=-1")
        ),
        (f"redis://:{SECRET}@h:6379/0?colour=1", "unknown Redis URL parameter 'colour'"),
        (f"redis://:{SECRET}@h/0?ssl_certfile=x", "unknown Redis URL parameter 'ssl_certfile'"),
        (
            f"redis://:{SECRET}%zz@h:6379/0",
            "the Redis URL has a malformed percent-encoding in its password "
            "(a % must be followed by two hexadecimal digits)",
        ),
        (f"redis://:{SECRET}@h:port/0", "a Redis port must be a number from 1 to 65535"),
    ],
)
def test_a_bad_redis_url_is_one_line_without_its_values(url: str, message: str) -> None:
    assert _refusal(lambda: redis_target(url, ours=frozenset({"prefix"}))) == message


def test_redact_replaces_every_secret_longest_first() -> None:
    assert redact("a S3cr3t%21 and S3cr3t", ("S3cr3t", "S3cr3t%21")) == "a *** and ***"
    assert redact("nothing to hide", ("", "absent")) == "nothing to hide"
