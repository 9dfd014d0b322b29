"""How much CPU this process may use: the cores it may run on, capped by a container's quota."""

from __future__ import annotations

import math
import os
from pathlib import Path

# cgroup v2 (Docker, Kubernetes): "max 100000" without a limit, "200000 100000" for 2 cores.
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cores(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """Whole cores this process can keep busy: a container limited to 2 CPUs on a 16-core node
    gets 2, though it may run on any of the 16."""
    cores = len(os.sched_getaffinity(0))
    try:
        quota, period = cpu_max.read_text().split()[:2]
    except (OSError, ValueError):
        return cores
    if quota == "max":
        return cores
    return max(1, min(cores, math.ceil(int(quota) / int(period))))
