"""Typed access to settings from the environment.

Every setting has a default, so no `.env` is needed to start; a value that is set but
malformed stops the process at start-up with a message naming the variable, rather than
surfacing later as a confusing runtime error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

PROJECT_ROOT = Path(__file__).resolve().parents[2]

Number = TypeVar("Number", int, float)


class ConfigError(ValueError):
    """A setting in the environment has a value the service cannot use."""


def env_str(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def env_int(name: str, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    return _bounded(name, value, minimum, maximum)


def env_float(name: str, default: float, minimum: float | None = None, maximum: float | None = None) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    return _bounded(name, value, minimum, maximum)


def _bounded(name: str, value: Number, minimum: Number | None, maximum: Number | None) -> Number:
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={value} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}={value} is above the maximum {maximum}")
    return value


def env_pairs(name: str) -> dict[str, str]:
    """`key=value,key=value` pairs ("" for none)."""
    pairs = {}
    for item in filter(None, (part.strip() for part in os.environ.get(name, "").split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"{name}: {item!r} is not of the form key=value")
        pairs[key.strip()] = value.strip()
    return pairs


def env_path(name: str, default: Path) -> Path:
    raw = os.environ.get(name, "").strip()
    path = Path(raw) if raw else default
    return path if path.is_absolute() else PROJECT_ROOT / path


def models_dir() -> Path:
    """Where `make export` writes serving artifacts and services read them."""
    return env_path("MODELS_DIR", PROJECT_ROOT / "models")
