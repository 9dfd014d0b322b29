"""One JSON error shape for every service.

Every error a client can see has the body
``{"error": {"code": "<snake_case>", "message": "<human readable>"}}``, whether it was raised
by our validation, by Falcon itself (unknown route, wrong method) or by a bug (500).
"""

from __future__ import annotations

import logging

import falcon

_LOG = logging.getLogger(__name__)


def api_error(status: str, code: str, message: str, headers: dict[str, str] | None = None) -> falcon.HTTPError:
    """An HTTP error with a stable machine-readable code and a message for people."""
    return falcon.HTTPError(status, code=code, description=message, headers=headers)


def _code_for(error: falcon.HTTPError) -> str:
    if error.code:
        return str(error.code)
    # Falcon's own errors (unknown route, wrong method...) carry no code: derive one from
    # the reason phrase, "405 Method Not Allowed" -> "method_not_allowed".
    reason = str(error.status).partition(" ")[2] or "error"
    return "_".join(reason.lower().replace("-", " ").split())


def _message_for(error: falcon.HTTPError) -> str:
    return error.description or error.title or str(error.status)


def serialize_error(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
    """Error serializer: JSON always, whatever the client's Accept header says."""
    resp.content_type = falcon.MEDIA_JSON
    resp.media = {"error": {"code": _code_for(error), "message": _message_for(error)}}


def handle_unexpected(req: falcon.Request, resp: falcon.Response, error: Exception, params: dict) -> None:
    """Last-resort handler: log the bug with its traceback, answer 500 in the usual shape."""
    if isinstance(error, falcon.HTTPError):
        raise error
    _LOG.exception("unhandled error on %s %s", req.method, req.path)
    raise api_error(falcon.HTTP_500, "internal_error", "the server failed to handle this request")


def install_json_errors(app: falcon.App) -> None:
    app.set_error_serializer(serialize_error)
    app.add_error_handler(Exception, handle_unexpected)
