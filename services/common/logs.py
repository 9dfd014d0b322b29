"""Logging set-up shared by the services: one line per record, on stderr (gunicorn's log)."""

from __future__ import annotations

import logging

from services.common.config import env_str


def configure_logging() -> None:
    logging.basicConfig(
        level=env_str("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s",
    )
