"""Frames of a streamed audio response, as the reference clients print them."""

from __future__ import annotations

from collections.abc import Iterator

import requests

FRAME_BYTES = 4096


def frames(response: requests.Response, size: int = FRAME_BYTES) -> Iterator[bytes]:
    """The body cut into `size`-byte frames (the last may be shorter), each yielded as soon as
    its bytes have arrived. Proxies may re-chunk a stream, so frames are cut here rather than
    taken from the HTTP chunks."""
    pending = b""
    for data in response.iter_content(chunk_size=None):
        pending += data
        while len(pending) >= size:
            yield pending[:size]
            pending = pending[size:]
    if pending:
        yield pending
