"""glibc malloc settings for long-running workers with many threads.

glibc gives threads that allocate at the same time separate heaps ("arenas"), up to eight per
core. A gthread worker runs each request on one of its many threads, and a stream's audio
buffers are allocated and freed on whichever thread serves it, so every thread that ever
overlapped another gets an arena of its own. A freed block goes back to the arena it came from,
and an arena returns memory to the system only from the top of its heap: each arena keeps
about the most its threads ever held at once, so the worker's size follows the most streams it
ever ran together and never comes down.

Outside glibc (musl, macOS) these functions do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

_LOG = logging.getLogger(__name__)

M_ARENA_MAX = -8  # mallopt parameter, from glibc's <malloc.h>


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt, libc.malloc_trim  # noqa: B018 - both exist in glibc only
    except (OSError, AttributeError):
        return None
    return libc


def cap_malloc_arenas(arenas: int = 2) -> bool:
    """Let at most `arenas` malloc arenas exist in this process; True when glibc took it.

    Call it in the worker before it starts serving: the cap applies to arenas created after
    the call. Threads then share the arenas: freed memory is reused by the next stream,
    whichever thread serves it, instead of lying idle in the arena of a thread that is not
    serving at the moment. Contention on the arena locks costs nothing measurable here:
    synthesis allocates a few large buffers per step, not many small ones.
    """
    libc = _glibc()
    if libc is None:
        return False
    if libc.mallopt(M_ARENA_MAX, arenas) != 1:
        _LOG.warning("mallopt(M_ARENA_MAX, %d) was refused", arenas)
        return False
    return True


def release_free_memory() -> bool:
    """Give the pages that malloc holds free back to the system (glibc's malloc_trim).

    Free memory between an arena's live blocks is otherwise kept until the process ends. The
    call walks every arena: a few milliseconds, so call it once something large was freed (a
    stream ended), not per chunk.
    """
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
