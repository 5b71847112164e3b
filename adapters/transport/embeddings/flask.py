"""Mount the core in Flask: `app.register_blueprint(archive_blueprint(service))`.

The blueprint's rules accept every common method and hand the WSGI environ to the
reference WSGI application's `respond`, so the answers are byte for byte the reference
service's (the raw path comes from Werkzeug's `REQUEST_URI`).
"""

from __future__ import annotations

import flask

from adapters.transport.embeddings import METHODS
from adapters.transport.http import MAX_BODY, HttpHandler
from adapters.transport.routes import mounted_paths
from adapters.transport.wsgi import WsgiApplication
from adapters.wiring.service import Service

__all__ = ["archive_blueprint"]

_EXACT, _USERS = mounted_paths()
# The route table's paths; under the users prefix, everything (the handler routes there).
RULES = (*_EXACT, _USERS, _USERS + "<path:user_id>")


def archive_blueprint(
    service: Service,
    *,
    name: str = "archive_core",
    url_prefix: str = "",
    max_body: int = MAX_BODY,
) -> flask.Blueprint:
    """A `Blueprint` serving the four endpoints under `url_prefix`."""
    application = WsgiApplication(handler=HttpHandler(service, max_body=max_body))

    def view(**_: str) -> flask.Response:
        answer = application.respond(flask.request.environ, prefix=url_prefix)
        return flask.Response(answer.body, status=answer.status, headers=list(answer.headers))

    blueprint = flask.Blueprint(name, __name__, url_prefix=url_prefix or None)
    for index, rule in enumerate(RULES):
        blueprint.add_url_rule(
            rule,
            endpoint=f"archive_core_{index}",
            view_func=view,
            methods=list(METHODS),
            provide_automatic_options=False,
        )
    return blueprint
