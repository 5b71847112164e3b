"""Mount the core in Django: `urlpatterns += archive_urlpatterns(service)`.

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
from adapters.transport.http import MAX_BODY, HttpHandler, HttpResponse
from adapters.transport.routes import mounted_paths
from adapters.wiring.service import Service

__all__ = ["archive_urlpatterns"]

_EXACT, _USERS = mounted_paths()
# The route table's paths (Django's are relative, without the leading slash); under the
# users prefix, everything (the handler routes there).
PATTERNS = (
    *(f"^{re.escape(path.lstrip('/'))}\\Z" for path in _EXACT),
    f"^{re.escape(_USERS.lstrip('/'))}(?P<user_id>.*)\\Z",
)


def archive_urlpatterns(
    service: Service, *, prefix: str = "", max_body: int = MAX_BODY
) -> list[Any]:
    """URL patterns serving the four endpoints; `prefix` is where they are included."""
    handler = HttpHandler(service, max_body=max_body)

    @csrf_exempt  # type: ignore[untyped-decorator]  # Django ships no type hints
    def view(request: Any, **_: str) -> Any:
        scope = getattr(request, "scope", None)  # set when Django runs under ASGI
        target = (
            asgi.raw_target(scope, prefix=prefix)
            if scope is not None
            else wsgi.raw_target(request.META, prefix=prefix)
        )
        started = handler.begin(request.method, target, wsgi.environ_headers(request.META))
        if isinstance(started, HttpResponse):
            answer = started
        else:
            body = request.read(started.limit + 1)
            answer = (
                handler.too_large(started)
                if len(body) > started.limit
                else handler.finish(started, body)
            )
        return DjangoResponse(answer.body, status=answer.status, headers=dict(answer.headers))

    return [re_path(pattern, view) for pattern in PATTERNS]
