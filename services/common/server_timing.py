"""The `Server-Timing` header: how long the steps took that were done before the answer began.

Browsers show it in their network panel, and any client can read it: on a stream it tells
waiting in the queue apart from the work itself. Only figures known when the headers leave go
in it; a stream's later work cannot.
"""

from __future__ import annotations

from collections.abc import Mapping


def server_timing(durations_ms: Mapping[str, float]) -> str:
    """`name;dur=milliseconds` for each step, in order (e.g. `text;dur=0.8, queue;dur=0.0`)."""
    return ", ".join(f"{name};dur={milliseconds:.1f}" for name, milliseconds in durations_ms.items())
