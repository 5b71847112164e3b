"""Mount the core in Django: `path("", include(archive_urlpatterns(deployment)))`.

One URL pattern per route of the deployment (a path template, each parameter one
segment), whatever the method: Django resolves a path to one view and has no notion of
a method, so a request on one of our templates is ours (a method the route does not
take gets our 405), and any other path is left to the project's own patterns — a
pattern of the project's on one of our templates must come before ours to win.

The view hands the request to the shared `HttpHandler`: the 64 KiB limit (checked on
`Content-Length` before Django reads the body), the raw path (from the ASGI scope, or
`REQUEST_URI` under WSGI) and every error body are the reference service's. The views
are CSRF-exempt: the API authenticates with bearer tokens and signatures, never
cookies. Django resolves the decoded path: `/auth/users/us-a%2Fb` falls on no pattern
of ours and gets the project's 404 (never another user's id).

For a view that calls a handler itself: `archive_request` (the core's `Request` of a
Django request, raw path kept), `refusal_response` and `to_django`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.http import HttpResponse as DjangoResponse  # type: ignore[import-untyped]  # no stubs installed
from django.http import StreamingHttpResponse
from django.urls import re_path  # type: ignore[import-untyped]
from django.views.decorators.csrf import csrf_exempt  # type: ignore[import-untyped]

import archive_core
from adapters.transport import asgi, wsgi
from adapters.transport.http import MAX_BODY, HttpHandler, HttpResponse, StreamedResponse
from adapters.transport.port import Served

__all__ = ["archive_request", "archive_urlpatterns", "refusal_response", "to_django"]


def _pattern(template: str) -> str:
    """A route's regular expression, relative as Django's are (no leading slash)."""
    segments = (
        f"(?P<{s[1:-1]}>[^/]+)" if s.startswith("{") else re.escape(s)
        for s in template.lstrip("/").split("/")
    )
    return f"^{'/'.join(segments)}\\Z"


def _raw_target(request: Any, prefix: str) -> str:
    scope = getattr(request, "scope", None)  # set when Django runs under ASGI
    if scope is not None:
        return asgi.raw_target(scope, prefix=prefix)
    return wsgi.raw_target(request.META, prefix=prefix)


def archive_urlpatterns(served: Served, *, prefix: str = "", max_body: int = MAX_BODY) -> list[Any]:
    """URL patterns serving the deployment's operations, one per route (the module's
    doc); `prefix` is where they are included (`path("dfns/", include(...))`)."""
    handler = HttpHandler(served, max_body=max_body)

    @csrf_exempt  # type: ignore[untyped-decorator]  # Django ships no type hints
    def view(request: Any, **_: str) -> Any:
        target = _raw_target(request, prefix)
        query = request.META.get("QUERY_STRING", "")
        if query:
            target = f"{target}?{query}"
        started = handler.begin(request.method, target, wsgi.environ_headers(request.META))
        if isinstance(started, HttpResponse):
            return to_django(started)
        body = request.read(started.limit + 1)
        if len(body) > started.limit:
            return to_django(handler.too_large(started))
        return to_django(handler.finish(started, body))

    return [re_path(_pattern(route.template), view) for route in handler.routes.mounted()]


def archive_request(
    request: Any, *, prefix: str = "", params: Mapping[str, str] | None = None
) -> archive_core.Request:
    """The core's `Request` of a Django request: the raw path (never percent-decoded,
    without the mount and `prefix`), the headers, the exact body bytes, the raw query
    string, and `params` when given (`{"userId": ...}`)."""
    scope = getattr(request, "scope", None)
    if scope is not None:
        return asgi.request_from_scope(scope, request.body, prefix=prefix, params=params)
    return wsgi.request_from_environ(request.META, request.body, prefix=prefix, params=params)


def refusal_response(exc: Exception) -> Any:
    """What the reference service answers when an operation raises `exc` (status,
    headers, JSON body), as a Django `HttpResponse`."""
    return to_django(HttpHandler.refusal(exc))


def to_django(answer: HttpResponse | StreamedResponse) -> Any:
    """A Django response of an answer of the shared handler (a stream stays one)."""
    if isinstance(answer, StreamedResponse):
        return StreamingHttpResponse(
            answer.chunks, status=answer.status, headers=dict(answer.headers)
        )
    return DjangoResponse(answer.body, status=answer.status, headers=dict(answer.headers))
