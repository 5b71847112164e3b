"""Mount the core in Django: `urlpatterns += archive_urlpatterns(deployment)`.

The patterns hand every request to the shared `HttpHandler`: routing inside the
service's paths, the 64 KiB limit (checked on `Content-Length` before Django reads the
body), the raw path and every error body are the reference service's. The views are
CSRF-exempt: the API authenticates with bearer tokens and signatures, never cookies.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpResponse as DjangoResponse  # type: ignore[import-untyped]  # no stubs installed
from django.urls import re_path  # type: ignore[import-untyped]
from django.views.decorators.csrf import csrf_exempt  # type: ignore[import-untyped]

from adapters.transport import asgi, wsgi
from adapters.transport.http import MAX_BODY, HttpHandler, HttpResponse, StreamedResponse
from adapters.transport.port import Served

__all__ = ["archive_urlpatterns"]


def archive_urlpatterns(served: Served, *, prefix: str = "", max_body: int = MAX_BODY) -> list[Any]:
    """URL patterns serving the deployment's operations (their exact paths, and everything
    under the prefix of each path with a parameter); `prefix` is where they are included."""
    handler = HttpHandler(served, max_body=max_body)
    exact, prefixes = handler.routes.mounted_paths()
    # Django's paths are relative, without the leading slash.
    patterns = (
        *(f"^{re.escape(path.lstrip('/'))}\\Z" for path in exact),
        *(f"^{re.escape(start.lstrip('/'))}(?P<rest>.*)\\Z" for start in prefixes),
    )

    @csrf_exempt  # type: ignore[untyped-decorator]  # Django ships no type hints
    def view(request: Any, **_: str) -> Any:
        scope = getattr(request, "scope", None)  # set when Django runs under ASGI
        target = (
            asgi.raw_target(scope, prefix=prefix)
            if scope is not None
            else wsgi.raw_target(request.META, prefix=prefix)
        )
        query = request.META.get("QUERY_STRING", "")
        if query:
            target = f"{target}?{query}"
        started = handler.begin(request.method, target, wsgi.environ_headers(request.META))
        answer: HttpResponse | StreamedResponse
        if isinstance(started, HttpResponse):
            answer = started
        else:
            body = request.read(started.limit + 1)
            answer = (
                handler.too_large(started)
                if len(body) > started.limit
                else handler.finish(started, body)
            )
        body = b"".join(answer.chunks) if isinstance(answer, StreamedResponse) else answer.body
        return DjangoResponse(body, status=answer.status, headers=dict(answer.headers))

    return [re_path(pattern, view) for pattern in patterns]
