"""Helpers for the services' gunicorn configuration files."""

from __future__ import annotations

from services.common.config import ConfigError

# meinheld streams chunked responses frame by frame and closes the app's iterator when the
# client leaves; gthread hands the request body to the app as it arrives.
WORKER_CLASSES = {
    "meinheld": "egg:meinheld#gunicorn_worker",
    "gthread": "gthread",
    "sync": "sync",
}


def worker_class(name: str) -> str:
    try:
        return WORKER_CLASSES[name]
    except KeyError:
        raise ConfigError(f"unknown worker class {name!r}; choose one of {', '.join(WORKER_CLASSES)}") from None


# One line per request: when, from where, what, the answer, how long, and the request id the
# gateway gave it (the same id is in the gateway's line and in every service the request reached).
# The path without its query: a query may carry what someone said (GET /api/tts?text=...).
ACCESS_LOG_FORMAT = '%(t)s %(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms id=%({x-request-id}i)s'
