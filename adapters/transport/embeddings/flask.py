"""Mount the core in Flask: `app.register_blueprint(archive_blueprint(deployment))`.

The blueprint registers each of the deployment's routes (a path template, each
parameter one segment) with its methods, and once more, for the other methods, as a
rule Werkzeug tries after every other: a request with a route's own method is ours; one
with another method is ours only when no rule of the application takes it (then our
405). Any other path is left to the application's own rules. The view hands the WSGI
environ to the reference WSGI application, so the answers are byte for byte the
reference service's; it routes on the raw path (`REQUEST_URI`, which Werkzeug, gunicorn
and uWSGI keep).

Flask matches rules on the decoded path: a `%2F` in a segment is a `/` there, so
`/auth/users/us-a%2Fb` falls on no route of ours and gets the application's 404 (never
another user's id).

For an application that calls a handler itself: `archive_request` (the core's
`Request` of the current request, raw path kept), `refusal_response` and `to_flask`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

import flask
from werkzeug.routing import BaseConverter, Map

import archive_core
from adapters.transport.embeddings import METHODS
from adapters.transport.http import MAX_BODY, HttpHandler, HttpResponse, StreamedResponse
from adapters.transport.port import Served
from adapters.transport.wsgi import WsgiApplication, request_from_environ

__all__ = ["archive_blueprint", "archive_request", "refusal_response", "to_flask"]

# The converter of the rules for a route's other methods (registered on the app's map).
_LAST_RESORT: Final = "archive_core_last_resort"


class _LastResort(BaseConverter):
    """One path segment (any, or exactly the literal given) that Werkzeug tries after
    every other way of matching it: a converter's weight orders the matching."""

    weight = 1000

    def __init__(self, url_map: Map, literal: str | None = None) -> None:
        super().__init__(url_map)
        self.regex = "[^/]+" if literal is None else re.escape(literal)


def _register_converter(state: Any) -> None:
    state.app.url_map.converters.setdefault(_LAST_RESORT, _LastResort)


def _rule(segments: list[str]) -> str:
    return "/".join(f"<{s[1:-1]}>" if s.startswith("{") else s for s in segments)


def _last_resort_rule(segments: list[str]) -> str:
    *head, last = segments
    tail = (
        f"<{_LAST_RESORT}:{last[1:-1]}>"
        if last.startswith("{")
        else f'<{_LAST_RESORT}("{last}"):archive_core_literal>'
    )
    return _rule([*head, tail])


def archive_blueprint(
    served: Served,
    *,
    name: str = "archive_core",
    url_prefix: str = "",
    max_body: int = MAX_BODY,
) -> flask.Blueprint:
    """A `Blueprint` serving the deployment's operations under `url_prefix` (or the prefix
    `register_blueprint` gives it), claiming only their routes (the module's doc)."""
    handler = HttpHandler(served, max_body=max_body)
    application = WsgiApplication(handler=handler)
    blueprint = flask.Blueprint(name, __name__, url_prefix=url_prefix or None)
    blueprint.record(_register_converter)  # on each app, before the rules that use it

    def serve(written: str) -> Callable[..., flask.Response]:
        """The view of a rule written `written` here (the app adds the prefixes before it)."""

        def view(**_: str) -> flask.Response:
            request = flask.request
            full = written if request.url_rule is None else request.url_rule.rule
            prefix = full[: len(full) - len(written)]
            return to_flask(application.answer(request.environ, prefix=prefix))

        return view

    for index, route in enumerate(handler.routes.mounted()):
        segments = route.template.split("/")
        # Werkzeug adds HEAD to a rule with GET.
        others = [
            method
            for method in METHODS
            if method not in route.methods and not (method == "HEAD" and "GET" in route.methods)
        ]
        for endpoint, rule, methods in (
            (f"route_{index}", _rule(segments), sorted(route.methods)),
            (f"route_{index}_other_methods", _last_resort_rule(segments), others),
        ):
            if methods:
                blueprint.add_url_rule(
                    rule,
                    endpoint=endpoint,
                    view_func=serve(rule),
                    methods=methods,
                    provide_automatic_options=False,
                )
    return blueprint


def archive_request(
    *, prefix: str = "", params: Mapping[str, str] | None = None
) -> archive_core.Request:
    """The core's `Request` of the current Flask request: the raw path (never
    percent-decoded, without `SCRIPT_NAME` and `prefix`), the headers, the exact body
    bytes, the raw query string, and `params` when given (`{"userId": ...}`)."""
    request = flask.request
    return request_from_environ(
        request.environ, request.get_data(cache=True), prefix=prefix, params=params
    )


def refusal_response(exc: Exception) -> flask.Response:
    """What the reference service answers when an operation raises `exc` (status,
    headers, JSON body), as a Flask `Response`."""
    return to_flask(HttpHandler.refusal(exc))


def to_flask(answer: HttpResponse | StreamedResponse) -> flask.Response:
    """A Flask `Response` of an answer of the shared handler (a stream stays one)."""
    body = answer.chunks if isinstance(answer, StreamedResponse) else answer.body
    return flask.Response(body, status=answer.status, headers=list(answer.headers))
