"""File helpers for writing artifacts safely."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import urllib.request
from pathlib import Path
from typing import Any

from export.report import progress


def cache_dir() -> Path:
    """Where downloaded model sources are kept between export runs."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "streaming-tts-stt"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path: Path) -> Any | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def replace_dir(staging: Path, target: Path) -> None:
    """Put a fully written staging directory in place of `target`.

    Readers never see a half-written bundle: the old one stays until the new one is complete.
    """
    if target.exists():
        old = target.with_name(target.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        staging.rename(target)
        shutil.rmtree(old)
    else:
        staging.rename(target)


def download(url: str, destination: Path) -> None:
    """Download with progress to `destination` (via a partial file, so a broken run is redone)."""
    partial = destination.with_suffix(destination.suffix + ".part")
    with urllib.request.urlopen(url, timeout=30) as response, partial.open("wb") as file:
        total = int(response.headers.get("Content-Length") or 0)
        done, reported = 0, -1
        while block := response.read(1 << 20):
            file.write(block)
            done += len(block)
            if total and (percent := 100 * done // total) // 10 != reported:
                reported = percent // 10
                progress(f"  {destination.name}: {percent}% of {total / 1e6:.0f} MB")
    partial.rename(destination)
