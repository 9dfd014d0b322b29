"""Where a gunicorn service's workers keep their Prometheus metrics, and their lifecycle.

prometheus-client's multiprocess mode: each worker writes its values to files in one directory
(PROMETHEUS_MULTIPROC_DIR), and `/metrics`, whichever worker answers it, adds up every worker's
files, those of workers that have exited included (what they counted happened). The master makes
the directory, empty, before any worker imports the library; a worker that exits has its live
gauges dropped (`forget_worker`), so a dead worker's streams are not counted as active.

Imported by the gunicorn configuration files, in the master: nothing here imports
prometheus-client before the directory is set.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
# A parent folder for the services' metric files (a folder per service inside); by default a
# temporary one per service start, removed when it stops.
METRICS_DIR_ENV = "METRICS_DIR"

_made_here: Path | None = None


def prepare_metrics_dir(service: str) -> Path:
    """An empty directory for this service's metric files, named to its workers by the
    environment they inherit. Files left by an earlier run would be added to this one's."""
    global _made_here
    parent = os.environ.get(METRICS_DIR_ENV, "").strip()
    if parent:
        path = Path(parent) / service
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
    else:
        path = _made_here = Path(tempfile.mkdtemp(prefix=f"{service}-metrics-"))
    os.environ[MULTIPROCESS_DIR_ENV] = str(path)
    return path


def forget_worker(server: object, worker: object) -> None:
    """gunicorn's `child_exit` hook: the exited worker's live gauges no longer count."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]


def remove_metrics_dir(server: object) -> None:
    """gunicorn's `on_exit` hook: a temporary directory goes with the service."""
    if _made_here is not None:
        shutil.rmtree(_made_here, ignore_errors=True)
