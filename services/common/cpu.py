"""How much CPU this process may use (the cores it may run on, capped by a container's quota),
and how it yields the CPU to others."""

from __future__ import annotations

import math
import os
from pathlib import Path

# cgroup v2 (Docker, Kubernetes): "max 100000" without a limit, "200000 100000" for 2 cores.
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
# The nice value of this process's autogroup (see `yield_cpu`).
AUTOGROUP = Path("/proc/self/autogroup")


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


def yield_cpu(nice: int) -> None:
    """Run this process at a lower CPU priority: `nice` more than it has.

    With the kernel's autogroup scheduling (on in Debian's and most distributions' kernels,
    for processes outside a cgroup of their own), the CPU is shared between sessions first,
    and nice values count only within a session: a daemon at nice 5 would still take an equal
    share beside another daemon. So the process starts a session of its own, which only it
    is in, and gives that session's group the same nice value.
    """
    os.nice(nice)
    if not AUTOGROUP.exists():
        return
    try:
        if os.getsid(0) != os.getpid():
            os.setsid()
        AUTOGROUP.write_text(str(nice))
    except OSError:
        pass  # a process group's leader cannot start a session, or /proc is read-only: nice alone counts
