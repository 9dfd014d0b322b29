"""Logging set-up shared by the services: one line per record on stderr (gunicorn's log), and
also in `<LOG_DIR>/<service>.log` when LOG_DIR is set (the shared log volume in docker compose)."""

from __future__ import annotations

import logging
from pathlib import Path

from services.common.config import env_str

_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


def configure_logging(service: str) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    log_dir = env_str("LOG_DIR", "")
    if log_dir:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(Path(log_dir) / f"{service}.log"))
    logging.basicConfig(level=env_str("LOG_LEVEL", "INFO").upper(), format=_FORMAT, handlers=handlers)
