"""Errors in the shape of the API a request came through, from one set of internal codes.

Services raise `api_error(status, code, message, param=...)` whichever API the request used.
One handler writes every error a client can see, whether raised by our validation, by Falcon
itself (unknown route, wrong method) or by a bug (500):

- the native API (`/api/...`, and every other path) answers
  ``{"error": {"code": "<snake_case>", "message": "<human readable>"}}`` with the status raised;
- OpenAI's API (`/v1/...`) answers ``{"error": {"message", "type", "param", "code"}}`` with the
  status OpenAI gives that kind of error, so its SDK raises the matching exception class, and
  `x-should-retry: false` where sending the same request again cannot help.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import falcon
from gunicorn.http.errors import NoMoreData, ParseException

_LOG = logging.getLogger(__name__)

OPENAI_PATH_PREFIX = "/v1/"

# OpenAI reports every invalid request as 400 (its SDK's BadRequestError), where the native API
# says more precisely what was wrong: 422 for a bad value, 415 for a wrong media type, and
# 404 or 413 for some values; a body too large to read stays 413, as OpenAI answers it.
_OPENAI_STATUS_FOR_STATUS = {422: 400, 415: 400}
_OPENAI_STATUS_FOR_CODE = {"unknown_voice": 400, "text_too_long": 400, "audio_too_long": 400}
# Statuses a client may retry (a timeout, a conflict, too many requests, a server at capacity),
# and the server errors that no retry can fix.
_RETRYABLE_CLIENT_STATUSES = {408, 409, 429}
_PERMANENT_SERVER_CODES = {"no_model", "no_voice"}


class ApiError(falcon.HTTPError):
    """An error with a stable machine-readable code, a message for people, and the request
    field it is about (`param`, in OpenAI's shape)."""

    def __init__(
        self, status: str, code: str, message: str, headers: dict[str, str] | None = None, param: str | None = None
    ) -> None:
        super().__init__(status, code=code, description=message, headers=headers)
        self.param = param


def api_error(
    status: str, code: str, message: str, headers: dict[str, str] | None = None, param: str | None = None
) -> ApiError:
    return ApiError(status, code, message, headers, param)


def is_openai_path(path: str) -> bool:
    return path.startswith(OPENAI_PATH_PREFIX)


def _code_for(error: falcon.HTTPError) -> str:
    if error.code:
        return str(error.code)
    # Falcon's own errors (unknown route, wrong method...) carry no code: derive one from
    # the reason phrase, "405 Method Not Allowed" -> "method_not_allowed".
    reason = str(error.status).partition(" ")[2] or "error"
    return "_".join(reason.lower().replace("-", " ").split())


def _message_for(error: falcon.HTTPError) -> str:
    return error.description or error.title or str(error.status)


def native_error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def openai_error(status: int, code: str, message: str, param: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) of an error in OpenAI's shape."""
    status = _OPENAI_STATUS_FOR_CODE.get(code, _OPENAI_STATUS_FOR_STATUS.get(status, status))
    error_type = "server_error" if status >= 500 else "invalid_request_error"
    body = {"error": {"message": message, "type": error_type, "param": param, "code": code}}
    futile = (400 <= status < 500 and status not in _RETRYABLE_CLIENT_STATUSES) or code in _PERMANENT_SERVER_CODES
    return status, body, {"x-should-retry": "false"} if futile else {}


def write_error(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
    """Answer `error` in the shape of the API `req` came through."""
    status, code, message = error.status_code, _code_for(error), _message_for(error)
    headers: Mapping[str, str] = error.headers or {}
    if is_openai_path(req.path):
        status, body, extra = openai_error(status, code, message, getattr(error, "param", None))
        headers = {**headers, **extra}
    else:
        body = native_error_body(code, message)
    resp.status = falcon.code_to_http_status(status)
    resp.set_headers(headers)
    resp.content_type = falcon.MEDIA_JSON  # JSON always, whatever the client's Accept header says
    resp.media = body


def handle_http_error(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError, params: dict) -> None:
    write_error(req, resp, error)


def handle_unexpected(req: falcon.Request, resp: falcon.Response, error: Exception, params: dict) -> None:
    """Last-resort handler: log the bug with its traceback, answer 500 in the usual shape."""
    _LOG.exception("unhandled error on %s %s", req.method, req.path)
    write_error(req, resp, api_error(falcon.HTTP_500, "internal_error", "the server failed to handle this request"))


def handle_malformed_body(req: falcon.Request, resp: falcon.Response, error: Exception, params: dict) -> None:
    """A body gunicorn could not read to its end (a broken chunked encoding, a body shorter
    than its Content-Length): the client's fault, said as such."""
    _LOG.info("malformed body on %s %s: %s", req.method, req.path, error)
    message = f"the request body could not be read: {error}" if str(error) else "the request body could not be read"
    # gunicorn then fails to read a next request on the connection, and closes it.
    write_error(req, resp, api_error(falcon.HTTP_400, "malformed_body", message))


def install_json_errors(app: falcon.App) -> None:
    # Falcon picks the handler of the most specific class, so HTTP errors never reach the
    # last-resort one.
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(falcon.HTTPError, handle_http_error)
    app.add_error_handler(ParseException, handle_malformed_body)
    app.add_error_handler(NoMoreData, handle_malformed_body)
