"""Logging set-up shared by the services.

Every record goes to stderr (docker's log) and, when LOG_DIR is set, to `<LOG_DIR>/<service>.log`
as well; gunicorn's access lines go to stdout and `<LOG_DIR>/<service>.access.log`. `make run`
sets LOG_DIR to `logs/`, as its daemons' stderr goes nowhere; the images set it to the shared
log volume.

The files are rotated by size (`LOG_MAX_BYTES`, `LOG_BACKUPS`). A gunicorn master and its
workers write the same file, so the handler is concurrent-log-handler's, which takes a file lock
around each write and rotation: the standard library's rotating handler is for one process.

gunicorn reads `gunicorn_logging(service)` as its `logconfig_dict` in the master, before it
forks: the workers inherit it, and the apps' `configure_logging` leaves it as it is.
"""

from __future__ import annotations

import logging
import logging.config
from pathlib import Path
from typing import Any

from services.common.config import env_int, env_str

_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


def _file_handler(path: Path) -> dict[str, Any]:
    return {
        "class": "concurrent_log_handler.ConcurrentRotatingFileHandler",
        "filename": str(path),
        "maxBytes": env_int("LOG_MAX_BYTES", 10 << 20, minimum=1 << 16),
        "backupCount": env_int("LOG_BACKUPS", 5, minimum=1, maximum=100),
        # Locks live beside the logs, hidden: the log directory is writable where the logs are.
        "lock_file_directory": str(path.parent),
    }


def gunicorn_logging(service: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` configuration for a service under gunicorn."""
    level = env_str("LOG_LEVEL", "INFO").upper()
    handlers: dict[str, dict[str, Any]] = {
        "stderr": {"class": "logging.StreamHandler", "formatter": "service", "stream": "ext://sys.stderr"},
        "stdout": {"class": "logging.StreamHandler", "formatter": "access", "stream": "ext://sys.stdout"},
    }
    service_handlers, access_handlers = ["stderr"], ["stdout"]
    log_dir = env_str("LOG_DIR", "")
    if log_dir:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        handlers["file"] = {**_file_handler(Path(log_dir) / f"{service}.log"), "formatter": "service"}
        handlers["access_file"] = {**_file_handler(Path(log_dir) / f"{service}.access.log"), "formatter": "access"}
        service_handlers.append("file")
        access_handlers.append("access_file")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"service": {"format": _FORMAT}, "access": {"format": "%(message)s"}},
        "handlers": handlers,
        "root": {"level": level, "handlers": service_handlers},
        "loggers": {
            # Handlers of its own, not the root's by propagation: uvicorn's worker hands
            # gunicorn.error's handlers to uvicorn's loggers, which do not propagate.
            "gunicorn.error": {"level": level, "handlers": service_handlers, "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": access_handlers, "propagate": False},
        },
    }


def configure_logging(service: str) -> None:
    """Log to stderr, and to LOG_DIR as gunicorn would, unless gunicorn has set logging up."""
    if logging.getLogger().handlers:
        return
    logging.config.dictConfig(gunicorn_logging(service))
