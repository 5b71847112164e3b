"""Mount the core in Flask: `app.register_blueprint(archive_blueprint(deployment))`.

The blueprint's rules accept every common method and hand the WSGI environ to the
reference WSGI application's `respond`, so the answers are byte for byte the reference
service's (the raw path comes from Werkzeug's `REQUEST_URI`).
"""

from __future__ import annotations

import flask

from adapters.transport.embeddings import METHODS
from adapters.transport.http import MAX_BODY, HttpHandler, StreamedResponse
from adapters.transport.port import Served
from adapters.transport.wsgi import WsgiApplication

__all__ = ["archive_blueprint"]


def archive_blueprint(
    served: Served,
    *,
    name: str = "archive_core",
    url_prefix: str = "",
    max_body: int = MAX_BODY,
) -> flask.Blueprint:
    """A `Blueprint` serving the deployment's operations under `url_prefix`: their exact
    paths, and everything under the prefix of each path with a parameter."""
    handler = HttpHandler(served, max_body=max_body)
    application = WsgiApplication(handler=handler)
    exact, prefixes = handler.routes.mounted_paths()
    rules = (*exact, *prefixes, *(start + "<path:rest>" for start in prefixes))

    def view(**_: str) -> flask.Response:
        answer = application.answer(flask.request.environ, prefix=url_prefix)
        body = answer.chunks if isinstance(answer, StreamedResponse) else answer.body
        return flask.Response(body, status=answer.status, headers=list(answer.headers))

    blueprint = flask.Blueprint(name, __name__, url_prefix=url_prefix or None)
    for index, rule in enumerate(rules):
        blueprint.add_url_rule(
            rule,
            endpoint=f"archive_core_{index}",
            view_func=view,
            methods=list(METHODS),
            provide_automatic_options=False,
        )
    return blueprint
