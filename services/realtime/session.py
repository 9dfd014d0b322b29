"""One client's live recognition session: its frames in, the protocol's replies out.

The engine's calls block (Kaldi and CTranslate2 decode on the calling thread), so each runs on
the worker's bounded thread pool, one at a time per session, and the event loop only moves
frames. Everything the client did wrong, or that ends the session early, is a `SessionEnd`
naming the close code: the WebSocket resource tells the client and closes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

from services.asr.audio_input import AudioInputError, PcmFormat
from services.asr.engines.base import Engine, LiveOptions, Utterance
from services.asr.live import LiveStream
from services.asr.recognize import Recognizer
from services.asr.upload import AudioTooLong
from services.common.errors import ApiError
from services.realtime import protocol
from services.realtime.protocol import Config, Eof, ProtocolError, StreamOptions

_LOG = logging.getLogger(__name__)
_T = TypeVar("_T")

# Close codes (RFC 6455, 7.4.1).
NORMAL = 1000
UNSUPPORTED_DATA = 1003
POLICY_VIOLATION = 1008
TOO_BIG = 1009
INTERNAL_ERROR = 1011
TRY_AGAIN_LATER = 1013


class SessionEnd(Exception):
    """The session ends early: the client is sent the error, then the connection is closed."""

    def __init__(self, close_code: int, code: str, message: str) -> None:
        super().__init__(message)
        self.close_code = close_code
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Replies:
    messages: list[str]
    done: bool = False
    """The client said eof: close the connection normally after the replies."""


class Session:
    def __init__(
        self, recognizer: Recognizer, engine: Engine, options: StreamOptions, pool: Executor, max_frame_bytes: int
    ) -> None:
        self._recognizer = recognizer
        self._engine = engine
        self._options = options
        self._pool = pool
        self._max_frame_bytes = max_frame_bytes
        self._stream: LiveStream | None = None
        # Utterances the engine ended that the client has not been sent yet: one goes with the
        # reply to each frame, oldest first (Whisper may end several while a frame is decoded).
        self._unsent: deque[Utterance] = deque()
        self._work: asyncio.Future | None = None

    @property
    def audio_seconds(self) -> float:
        return self._stream.seconds if self._stream else 0.0

    async def handle(self, frame: str | bytes) -> Replies:
        """The replies to one frame of the client's."""
        size = len(frame) if isinstance(frame, bytes) else len(frame.encode())
        if size > self._max_frame_bytes:
            raise SessionEnd(
                TOO_BIG, "frame_too_large", f"a frame is at most {self._max_frame_bytes} bytes; this one had {size}"
            )
        if isinstance(frame, bytes):
            return Replies([await self._audio(frame)])
        try:
            command = protocol.parse_text(frame)
        except ProtocolError as error:
            raise SessionEnd(UNSUPPORTED_DATA, error.code, str(error)) from None
        if isinstance(command, Config):
            self._configure(command)
            return Replies([])
        final = await self._run(self._final) if self._stream else self._result([])
        return Replies([final], done=isinstance(command, Eof))

    def _configure(self, config: Config) -> None:
        if self._stream is not None:
            # The engine's stream is set up for the first audio; vosk-server, too, keeps the
            # settings it started with. Saying so beats ignoring it.
            raise SessionEnd(UNSUPPORTED_DATA, "config_after_audio", "a config must come before the first audio frame")
        if config.language is not None:
            try:
                self._recognizer.language(self._engine, config.language, "language")
            except ApiError as error:
                raise SessionEnd(UNSUPPORTED_DATA, str(error.code), error.description or "") from None
        self._options = self._options.updated(config)

    async def _audio(self, pcm: bytes) -> str:
        if len(pcm) % 2:
            raise SessionEnd(
                UNSUPPORTED_DATA, "invalid_frame", f"audio is 16-bit samples: a frame of {len(pcm)} bytes is not"
            )
        try:
            if self._stream is None:
                self._stream = await self._run(self._start)
            return await self._run(self._feed, pcm)
        except AudioTooLong as error:
            raise SessionEnd(TOO_BIG, "audio_too_long", str(error)) from None
        except AudioInputError as error:
            raise SessionEnd(UNSUPPORTED_DATA, "invalid_audio", str(error)) from None

    def _start(self) -> LiveStream:
        options = self._options
        language = self._recognizer.language(self._engine, options.language, "language")
        live = LiveOptions(language=language, phrases=options.phrases, alternatives=options.max_alternatives)
        return self._recognizer.start_live(live, PcmFormat(sample_rate=options.sample_rate))

    # The three below run on the pool, one at a time for a session.

    def _feed(self, pcm: bytes) -> str:
        assert self._stream is not None
        self._stream.accept(pcm)
        self._unsent.extend(self._stream.take_finished())
        if self._unsent:
            return self._result([self._unsent.popleft()])
        return protocol.partial(self._stream.partial())

    def _final(self) -> str:
        assert self._stream is not None
        utterances = [*self._unsent, *self._stream.end_utterance()]
        self._unsent.clear()
        return self._result(utterances)

    def _result(self, utterances: list[Utterance]) -> str:
        return protocol.result(utterances, self._options.words, self._options.max_alternatives)

    async def _run(self, work: Callable[..., _T], *args: object) -> _T:
        future = asyncio.get_running_loop().run_in_executor(self._pool, work, *args)
        self._work = future
        result = await future
        self._work = None
        return result

    async def close(self) -> None:
        """Release the engine's stream: after the eof, an error, or a client gone mid-stream.

        A call still running on the pool (its client left while it ran) is waited for first,
        so the stream is never closed under it.
        """
        if self._work is not None:
            await asyncio.wait([self._work])
        if self._stream is not None:
            stream, self._stream = self._stream, None
            try:
                await asyncio.get_running_loop().run_in_executor(self._pool, stream.close)
            except Exception:  # the session is over either way: its place must still be freed
                _LOG.exception("closing a live stream failed")
