"""Realtime service: live speech recognition over WebSocket (`/api/stt/ws`), in vosk-server's
protocol, so the clients written for vosk-server work unchanged against the gateway.

Why it is built this way:

- The other services are WSGI apps, and WSGI has no WebSocket; ASGI does. Falcon's ASGI app
  (`falcon.asgi.App`) under gunicorn's uvicorn worker keeps what the others have: the same
  framework, and the same process manager with its pid file, daemon mode, logs and worker
  restarts (`services/realtime/gunicorn.conf.py`).
- The engines are imported from the ASR service, not copied: `services.asr.recognize` chooses
  the engine and validates languages, `services.asr.live` converts the client's audio and
  bounds an utterance, and this service only speaks the protocol (`protocol`, `session`).
- The model loads once per realtime worker process. That is a second copy in memory beside
  the ASR HTTP service's, since the two are separate processes (and images): the price of
  keeping the WebSocket front door apart from the upload API, so that each is scaled,
  restarted and bounded on its own.
- The engines' calls block, so they run on a bounded thread pool (a thread per session place),
  never on the event loop, which only moves frames and keeps answering `/healthz`.

Limits, each told to the client as `{"error": {"code", "message"}}` and then a close code
with a short reason: a session place per client, `REALTIME_MAX_SESSIONS` per worker (1013
beyond); no frame for `REALTIME_IDLE_TIMEOUT` seconds (1008); a session past
`REALTIME_MAX_SESSION_SECONDS` (1008); a frame over `REALTIME_MAX_FRAME_BYTES`, or an
utterance past `MAX_AUDIO_DURATION` without a pause (1009); a text frame that is not a message
of the protocol, a bad config, a config after the audio began, or audio of an odd byte count
(1003); a failure inside the engine (1011, logged with its traceback; the worker goes on); no
model loaded (1011); with `API_KEYS` set, a handshake without one of them (1008).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import falcon
import falcon.asgi
import falcon.media
from falcon import WebSocketPayloadType
from falcon.errors import WebSocketDisconnected

from services.asr.engines.base import Engine
from services.asr.models import EngineChoice, choose_engine
from services.asr.recognize import Recognizer
from services.asr.settings import AsrSettings
from services.common.api_keys import ApiKeyCheck, api_keys_from_env, key_subprotocol
from services.common.errors import ApiError, api_error, write_error
from services.common.logs import configure_logging
from services.common.metrics import METRICS_PATH, AsyncMetricsResource, RequestCounter
from services.common.places import Places
from services.common.request_id import RequestIdEcho
from services.realtime import metrics, protocol
from services.realtime.protocol import StreamOptions
from services.realtime.session import (
    INTERNAL_ERROR,
    NORMAL,
    POLICY_VIOLATION,
    TRY_AGAIN_LATER,
    Session,
    SessionEnd,
)
from services.realtime.settings import RealtimeSettings

_LOG = logging.getLogger(__name__)

WS_PATH = "/api/stt/ws"
MAX_REASON_BYTES = 123
"""A close frame's reason: at most 123 bytes of UTF-8 (RFC 6455, 5.5)."""


def close_reason(code: str, message: str) -> str:
    """`code: message`, cut to fit a close frame (the whole message goes in the error first)."""
    reason = f"{code}: {message}".encode()[:MAX_REASON_BYTES]
    return reason.decode(errors="ignore")  # a character cut in two is dropped


class _TextAsIs(falcon.media.TextBaseHandlerWS):
    """Frames reach the session as they came: text as str (a message), binary as bytes (audio)."""

    def deserialize(self, payload: str) -> object:
        return payload


class _BytesAsIs(falcon.media.BinaryBaseHandlerWS):
    def deserialize(self, payload: bytes) -> object:
        return payload


class LiveRecognition:
    """`/api/stt/ws`: one WebSocket, one session of live recognition."""

    def __init__(self, recognizer: Recognizer, settings: RealtimeSettings, places: Places) -> None:
        self._recognizer = recognizer
        self._settings = settings
        self._places = places
        self._keys = ApiKeyCheck(api_keys_from_env())
        self._pool = ThreadPoolExecutor(max_workers=settings.max_sessions, thread_name_prefix="live")

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        raise api_error(
            falcon.HTTP_426,
            "upgrade_required",
            f"{WS_PATH} speaks vosk-server's protocol over WebSocket: connect with ws:// (or wss://)",
            headers={"Upgrade": "websocket"},
        )

    async def on_websocket(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket) -> None:
        # Accepted first, so that every refusal below reaches the client as an error message and
        # a close code with a reason (a refused handshake would only say "HTTP 403"). A browser
        # that offered its key as a subprotocol must get it back, or it drops the connection.
        await ws.accept(subprotocol=key_subprotocol(ws.subprotocols))
        try:
            engine = self._admit(req)
        except SessionEnd as end:
            _LOG.info("session refused: %s", end.message)
            await _end(ws, end)
            return
        session = Session(
            self._recognizer,
            engine,
            StreamOptions(sample_rate=float(self._settings.sample_rate)),
            self._pool,
            self._settings.max_frame_bytes,
        )
        metrics.ACTIVE_SESSIONS.inc()
        try:
            await self._serve(ws, session)
        finally:
            seconds = session.audio_seconds
            await session.close()
            self._places.give_back()
            metrics.ACTIVE_SESSIONS.dec()
            _LOG.info("session over after %.1f s of audio; %d open", seconds, self._places.active)

    def _admit(self, req: falcon.asgi.Request) -> Engine:
        """The engine to recognize with, and a session place taken; SessionEnd otherwise."""
        try:
            self._keys.process_request(req, None)  # type: ignore[arg-type]  # no response on a WebSocket
            engine = self._recognizer.engine()
        except ApiError as error:
            close_code = INTERNAL_ERROR if error.status_code >= 500 else POLICY_VIOLATION
            raise SessionEnd(close_code, str(error.code), error.description or "") from None
        if not self._places.take():
            metrics.REFUSALS.inc()
            message = (
                f"this worker serves {self._places.limit} sessions at once (REALTIME_MAX_SESSIONS); try again later"
            )
            raise SessionEnd(TRY_AGAIN_LATER, "too_many_sessions", message)
        return engine

    async def _serve(self, ws: falcon.asgi.WebSocket, session: Session) -> None:
        loop = asyncio.get_running_loop()
        idle = self._settings.idle_timeout_seconds
        deadline = loop.time() + self._settings.max_session_seconds
        try:
            while True:
                left = deadline - loop.time()
                try:
                    frame = await asyncio.wait_for(ws.receive_media(), timeout=max(0.0, min(idle, left)))
                except TimeoutError:
                    if left > idle:
                        raise SessionEnd(
                            POLICY_VIOLATION, "idle_timeout", f"no frame arrived for {idle} s; the session was closed"
                        ) from None
                    message = f"a session lasts at most {self._settings.max_session_seconds} s; connect again"
                    raise SessionEnd(POLICY_VIOLATION, "session_too_long", message) from None
                assert isinstance(frame, str | bytes)
                replies = await session.handle(frame)
                for message in replies.messages:
                    await ws.send_text(message)
                if replies.done:
                    await ws.close(NORMAL)
                    return
        except SessionEnd as end:
            _LOG.info("session closed (%d): %s", end.close_code, end.message)
            await _end(ws, end)
        except WebSocketDisconnected:
            _LOG.info("client left mid-session")
        except Exception:  # a failure in the engine ends this session, not the worker
            _LOG.exception("live recognition failed")
            await _end(ws, SessionEnd(INTERNAL_ERROR, "internal_error", "recognition failed; the session was closed"))


async def _end(ws: falcon.asgi.WebSocket, end: SessionEnd) -> None:
    """Tell the client why, then close with the code and a short reason."""
    try:
        await ws.send_text(protocol.error(end.code, end.message))
        await ws.close(end.close_code, close_reason(end.code, end.message))
    except WebSocketDisconnected:
        pass  # the client is gone already


class Health:
    def __init__(self, choice: EngineChoice, places: Places) -> None:
        self._choice = choice
        self._places = places

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        engine = self._choice.engine
        resp.status = falcon.HTTP_200 if engine else falcon.HTTP_503
        resp.media = {
            "status": "ok" if engine else "unavailable",
            "service": "realtime",
            "engine": engine.name if engine else None,
            "model": engine.model if engine else None,
            "notes": self._choice.notes,
            # This worker's sessions (with REALTIME_WORKERS > 1, of the worker that answered).
            "active_sessions": self._places.active,
            "max_sessions": self._places.limit,
        }


async def _http_error(
    req: falcon.asgi.Request, resp: falcon.asgi.Response | None, error: falcon.HTTPError, params: dict, **kwargs: Any
) -> None:
    if resp is not None:
        write_error(req, resp, error)  # type: ignore[arg-type]  # the same response API as WSGI's


async def _unexpected(
    req: falcon.asgi.Request, resp: falcon.asgi.Response | None, error: Exception, params: dict, **kwargs: Any
) -> None:
    _LOG.exception("unhandled error on %s %s", req.method, req.path)
    ws = kwargs.get("ws")
    if resp is not None:
        failure = api_error(falcon.HTTP_500, "internal_error", "the server failed to handle this request")
        write_error(req, resp, failure)  # type: ignore[arg-type]
    elif ws is not None:
        await _end(ws, SessionEnd(INTERNAL_ERROR, "internal_error", "the server failed to handle this session"))


def create_app(settings: RealtimeSettings | None = None) -> falcon.asgi.App:
    configure_logging("realtime")
    settings = settings or RealtimeSettings.from_env()
    asr_settings = AsrSettings.from_env()
    choice = choose_engine(asr_settings)
    places = Places(settings.max_sessions)
    app = falcon.asgi.App(middleware=[RequestCounter(), RequestIdEcho()])
    app.ws_options.media_handlers[WebSocketPayloadType.TEXT] = _TextAsIs()
    app.ws_options.media_handlers[WebSocketPayloadType.BINARY] = _BytesAsIs()
    # Errors in the project's JSON shape; Falcon's own handler for a client gone stays the most
    # specific one.
    app.add_error_handler(Exception, _unexpected)
    app.add_error_handler(falcon.HTTPError, _http_error)
    app.add_route(WS_PATH, LiveRecognition(Recognizer(choice, asr_settings), settings, places))
    app.add_route("/healthz", Health(choice, places))
    app.add_route(METRICS_PATH, AsyncMetricsResource())
    _LOG.info(
        "realtime: %d sessions per worker, idle timeout %d s, frames up to %d bytes",
        settings.max_sessions,
        settings.idle_timeout_seconds,
        settings.max_frame_bytes,
    )
    return app
