"""Reading a client's events with bounds, and the connection loop both servers share.

The `wyoming` package's reader trusts its peer: a header that says a payload is 10 GB is read
until 10 GB have arrived, and a header that is not a JSON object ends the task with a
traceback. A server open to a network reads through `read_event` instead, which checks each
length before reading it, and answers what is wrong with Wyoming's `error` event.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from wyoming.error import Error
from wyoming.event import Event
from wyoming.server import AsyncEventHandler

from services.common.places import Places

_LOG = logging.getLogger(__name__)


class WyomingError(Exception):
    """What a client did wrong, or what stops its request: sent as an `error` event."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text

    def event(self) -> Event:
        return Error(text=self.text, code=self.code).event()


class BrokenStream(WyomingError):
    """The byte stream itself is broken: after the error, the connection is closed."""


class ClientStalled(ConnectionError):
    """The client took none of what was sent to it for the idle timeout: dropped as gone."""


async def read_event(reader: asyncio.StreamReader, max_bytes: int) -> Event | None:
    """The client's next event, None once it has closed the connection. A header line longer
    than the reader's limit, or data or a payload over `max_bytes`, is refused unread."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError:
        raise BrokenStream("event_too_large", "an event's header line is too long") from None
    header = _json_object(line, "header")
    event_type = header.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise BrokenStream("invalid_event", "an event's header has no 'type'")
    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise BrokenStream("invalid_event", "an event's 'data' must be a JSON object")
    try:
        data_length = _length(header, "data_length", max_bytes)
        if data_length:
            data = {**data, **_json_object(await reader.readexactly(data_length), "data")}
        payload_length = _length(header, "payload_length", max_bytes)
        payload = await reader.readexactly(payload_length) if payload_length else None
    except asyncio.IncompleteReadError:
        return None  # the client left in the middle of an event
    return Event(type=event_type, data=data, payload=payload)


def _json_object(raw: bytes, part: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BrokenStream("invalid_event", f"an event's {part} is not valid JSON") from None
    if not isinstance(value, dict):
        raise BrokenStream("invalid_event", f"an event's {part} must be a JSON object")
    return value


def _length(header: dict[str, Any], name: str, max_bytes: int) -> int:
    value = header.get(name)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BrokenStream("invalid_event", f"'{name}' must be a whole number of bytes")
    if value > max_bytes:
        raise BrokenStream("event_too_large", f"'{name}' is {value} bytes; the limit is {max_bytes}")
    return value


@dataclass(frozen=True)
class ConnectionLimits:
    idle_timeout_seconds: float
    max_event_bytes: int


class ProtocolHandler(AsyncEventHandler):
    """One client's connection: events in through `read_event`, each handed to `handle_event`.

    A `WyomingError` from the handler is sent as an `error` event and the connection goes on
    (the next request starts afresh); a broken byte stream, an idle client or a failure of our
    own is told, then the connection is closed. Nothing a client sends ends the server.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        connections: Places,
        limits: ConnectionLimits,
    ) -> None:
        super().__init__(reader, writer)
        self._connections = connections
        self._limits = limits

    async def run(self) -> None:
        if not self._connections.take():
            busy = f"this server holds {self._connections.limit} connections at once (WYOMING_MAX_CLIENTS)"
            await self._close_with(WyomingError("too_many_clients", busy))
            return
        try:
            await self._serve()
        except ClientStalled:
            _LOG.info("dropped a client that took no data for %g s", self._limits.idle_timeout_seconds)
        except ConnectionError:
            pass  # the client is gone; nothing to tell it
        finally:
            self._connections.give_back()
            await self.disconnect()
            self.writer.close()

    async def _serve(self) -> None:
        idle = self._limits.idle_timeout_seconds
        while True:
            try:
                event = await asyncio.wait_for(read_event(self.reader, self._limits.max_event_bytes), idle)
            except TimeoutError:
                await self._close_with(WyomingError("idle_timeout", f"no event arrived for {idle:g} s"))
                return
            except BrokenStream as error:
                _LOG.info("closing a connection: %s", error.text)
                await self._close_with(error)
                return
            if event is None:
                return
            try:
                if not await self.handle_event(event):
                    return
            except WyomingError as error:
                _LOG.info("%s refused: %s (%s)", event.type, error.text, error.code)
                await self.refuse(error)
            except ConnectionError:
                raise
            except Exception:  # a bug of ours ends this connection, not the server
                _LOG.exception("handling a %s event failed", event.type)
                await self._close_with(WyomingError("internal_error", "the server failed to handle the request"))
                return

    async def reset(self) -> None:
        """Forget the request in progress."""

    async def refuse(self, error: WyomingError) -> None:
        """End the request in progress with `error`; the connection goes on."""
        await self.reset()
        await self.write_event(error.event())

    async def write_event(self, event: Event) -> None:
        """Send an event; a client that takes nothing for the idle timeout is dropped, so that
        it holds no connection place (nor, through it, a TTS stream) forever."""
        try:
            await asyncio.wait_for(super().write_event(event), self._limits.idle_timeout_seconds)
        except TimeoutError:
            self.writer.transport.abort()  # its unsent bytes are dropped, not flushed first
            raise ClientStalled from None

    async def _close_with(self, error: WyomingError) -> None:
        try:
            await self.write_event(error.event())
        except ConnectionError:
            pass
        self.writer.close()
