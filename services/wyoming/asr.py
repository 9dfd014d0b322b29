"""The Wyoming ASR server: `describe`, and `transcribe` followed by the audio.

`transcribe {language}`, `audio-start`, `audio-chunk`s, `audio-stop` is answered with
`transcript {text, language}`. Transcript streaming comes with it: `transcript-start` with the
first audio, a `transcript-chunk` for each utterance as soon as a pause ends it (decoded while
the rest of the audio arrives), then the `transcript` and `transcript-stop`. Clients that do
not stream drop the events they do not know, as the protocol asks.

The audio may come at any rate from 8 to 48 kHz, 16- or 32-bit, mono or stereo: the live
stream converts it as the WebSocket's and the uploads' audio is converted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import TypeVar

from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioFormat, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import AsrModel, AsrProgram, Attribution, Describe, Info

from services.asr.audio_input import ALLOWED_CHANNELS, AudioInputError, PcmFormat
from services.asr.engines.base import Engine, LiveOptions, Utterance
from services.asr.live import HIGHEST_SAMPLE_RATE, LOWEST_SAMPLE_RATE, LiveStream
from services.asr.models import ExportedModel
from services.asr.recognize import Recognizer
from services.asr.upload import AudioTooLong
from services.common.errors import ApiError
from services.common.places import Places
from services.wyoming.events import ProtocolHandler, WyomingError
from services.wyoming.program import PROGRAM_NAME, parse, program_attribution

_LOG = logging.getLogger(__name__)
_T = TypeVar("_T")

SAMPLE_FORMAT_FOR_WIDTH = {2: "s16le", 4: "s32le"}
_ENGINE_AUTHORS = {
    "whisper": Attribution(name="OpenAI", url="https://github.com/openai/whisper"),
    "vosk": Attribution(name="Alpha Cephei", url="https://alphacephei.com/vosk/models"),
}


def asr_info(engine: Engine | None, exported: ExportedModel | None) -> Info:
    models = []
    if engine is not None:
        source = (exported.manifest.get("source") or {}) if exported else {}
        package = f", from the package {source['package']} {source.get('version', '')}" if "package" in source else ""
        models.append(
            AsrModel(
                name=engine.id,
                attribution=_ENGINE_AUTHORS.get(engine.name, program_attribution()),
                installed=True,
                description=f"{engine.name} {engine.model}{package}".strip(),
                version=source.get("version"),
                # A model that detects its language lists none ("any"): Home Assistant then
                # offers it for every language.
                languages=sorted(engine.languages) if engine.languages is not None else [],
            )
        )
    return Info(
        asr=[
            AsrProgram(
                name=PROGRAM_NAME,
                attribution=program_attribution(),
                installed=True,
                description="Speech-to-text with early decoding (Whisper on CTranslate2, or Vosk)",
                version=None,
                models=models,
                supports_transcript_streaming=True,
            )
        ]
    )


def pcm_format(audio: AudioFormat) -> PcmFormat:
    """The stream's format as the ASR layer names it; the client's error when it cannot be read."""
    sample_format = SAMPLE_FORMAT_FOR_WIDTH.get(audio.width)
    if sample_format is None:
        raise WyomingError("invalid_audio_format", f"width {audio.width!r} is not supported: send 2 or 4 bytes")
    if audio.channels not in ALLOWED_CHANNELS:
        raise WyomingError("invalid_audio_format", f"channels {audio.channels!r} is not supported: send 1 or 2")
    if (
        isinstance(audio.rate, bool)
        or not isinstance(audio.rate, int)
        or not (LOWEST_SAMPLE_RATE <= audio.rate <= HIGHEST_SAMPLE_RATE)
    ):
        raise WyomingError(
            "invalid_audio_format",
            f"rate {audio.rate!r} is not supported: send {LOWEST_SAMPLE_RATE:g} to {HIGHEST_SAMPLE_RATE:g} Hz",
        )
    return PcmFormat(sample_rate=audio.rate, channels=audio.channels, sample_format=sample_format)


class Transcription:
    """One request's audio through a live stream. The engine's calls block, so each runs on the
    pool, one at a time for a transcription; the event loop only moves events."""

    def __init__(
        self, stream: LiveStream, fmt: PcmFormat, language: str | None, pool: Executor, max_seconds: float
    ) -> None:
        self.stream = stream
        self.format = fmt
        self.language = language
        self.texts: list[str] = []
        self.began = time.perf_counter()
        self._pool = pool
        self._max_seconds = max_seconds
        self._work: asyncio.Future | None = None

    async def feed(self, pcm: bytes) -> list[str]:
        """The transcript's chunks this audio completed: the utterances it ended."""
        return self._chunks(await self._run(self._feed, pcm))

    async def end(self) -> list[str]:
        """The chunks of what was left undecoded at the end of the audio."""
        return self._chunks(await self._run(self.stream.end_utterance))

    def _feed(self, pcm: bytes) -> list[Utterance]:
        self.stream.accept(pcm)
        if self.stream.seconds > self._max_seconds:
            # The whole request is bounded as an upload is, pauses or not.
            raise AudioTooLong(f"the audio is longer than {self._max_seconds:g} s (MAX_AUDIO_DURATION)")
        return self.stream.take_finished()

    def _chunks(self, utterances: list[Utterance]) -> list[str]:
        chunks = []
        for text in (" ".join(u.text.split()) for u in utterances):
            if text:
                # Chunks add up to the transcript: each after the first begins with its space.
                chunks.append(" " + text if self.texts else text)
                self.texts.append(text)
        return chunks

    async def _run(self, work: Callable[..., _T], *args: object) -> _T:
        self._work = asyncio.get_running_loop().run_in_executor(self._pool, work, *args)
        try:
            return await self._work
        except AudioTooLong as error:
            raise WyomingError("audio_too_long", str(error)) from None
        except AudioInputError as error:
            raise WyomingError("invalid_audio", str(error)) from None
        finally:
            self._work = None

    async def close(self) -> None:
        """Release the engine's stream; a call still running (its client left) is waited for
        first, so the stream is never closed under it."""
        if self._work is not None:
            await asyncio.wait([self._work])
        await asyncio.get_running_loop().run_in_executor(self._pool, self.stream.close)


class AsrHandler(ProtocolHandler):
    def __init__(
        self,
        *args: object,
        recognizer: Recognizer,
        exported: ExportedModel | None,
        sessions: Places,
        pool: Executor,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._recognizer = recognizer
        self._exported = exported
        self._sessions = sessions
        self._pool = pool
        self._language: str | None = None
        self._transcription: Transcription | None = None
        self._dropping = False
        """A stream was refused: its remaining audio is dropped until its audio-stop."""

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event(asr_info(self._loaded_engine(), self._exported).event())
        elif Transcribe.is_type(event.type):
            await self._transcribe(parse(Transcribe, event))
        elif AudioStart.is_type(event.type):
            await self.reset()  # a new stream: whatever came before it is over
            self._dropping = False
            await self._in_stream(self._audio_start, event)
        elif AudioChunk.is_type(event.type):
            if not self._dropping:
                await self._in_stream(self._audio, event)
        elif AudioStop.is_type(event.type):
            if self._dropping:
                self._dropping = False  # the refused stream is over; its error was its answer
            else:
                await self._finish()
        return True

    async def _in_stream(self, step: Callable[[Event], Awaitable[None]], event: Event) -> None:
        """A step of an audio stream; refused, the rest of the stream's audio is dropped (one
        error for the stream, not one for each of its chunks)."""
        try:
            await step(event)
        except WyomingError:
            self._dropping = True
            raise

    def _loaded_engine(self) -> Engine | None:
        try:
            return self._recognizer.engine()
        except ApiError:
            return None

    async def _transcribe(self, request: Transcribe) -> None:
        await self.reset()
        self._dropping = False
        engine = self._engine()
        if request.name and request.name != engine.id:
            raise WyomingError("unknown_model", f"no model is named {request.name!r}; this server has {engine.id!r}")
        try:
            self._language = self._recognizer.language(engine, request.language, "language")
        except ApiError as error:
            raise WyomingError(str(error.code), error.description or "") from None

    def _engine(self) -> Engine:
        try:
            return self._recognizer.engine()
        except ApiError as error:
            raise WyomingError(str(error.code), error.description or "") from None

    async def _start(self, fmt: PcmFormat) -> None:
        engine = self._engine()
        if not self._sessions.take():
            raise WyomingError(
                "too_many_sessions",
                f"this server decodes {self._sessions.limit} transcriptions at once (WYOMING_ASR_MAX_SESSIONS); "
                "try again later",
            )
        # The language asked for, else the model's only one (a multilingual model detects it).
        languages = sorted(engine.languages or ())
        language = self._language or (languages[0] if len(languages) == 1 else None)
        try:
            stream = await asyncio.get_running_loop().run_in_executor(
                self._pool, self._recognizer.start_live, LiveOptions(language=self._language, partials=False), fmt
            )
        except BaseException:
            self._sessions.give_back()
            raise
        self._transcription = Transcription(stream, fmt, language, self._pool, self._recognizer.limits.max_seconds)
        await self.write_event(TranscriptStart(language=language).event())

    async def _audio_start(self, event: Event) -> None:
        await self._start(pcm_format(parse(AudioStart, event)))

    async def _audio(self, event: Event) -> None:
        chunk = parse(AudioChunk, event)
        if not isinstance(chunk.audio, bytes):
            raise WyomingError("invalid_event", "an audio-chunk carries its audio as the payload")
        fmt = pcm_format(chunk)
        if self._transcription is None:  # audio with no audio-start: its own format starts one
            await self._start(fmt)
        assert self._transcription is not None
        if fmt != self._transcription.format:
            raise WyomingError(
                "audio_format_changed", "an audio-chunk's rate, width or channels differ from the stream's"
            )
        await self._send_chunks(await self._transcription.feed(chunk.audio))

    async def _send_chunks(self, chunks: list[str]) -> None:
        for chunk in chunks:
            await self.write_event(TranscriptChunk(text=chunk).event())

    async def _finish(self) -> None:
        transcription = self._transcription
        if transcription is None:
            # audio-stop with no audio: nothing was said (wyoming-faster-whisper answers so too)
            await self.write_event(Transcript(text="", language=self._language).event())
            return
        await self._send_chunks(await transcription.end())
        text = " ".join(transcription.texts)
        await self.write_event(Transcript(text=text, language=transcription.language).event())
        await self.write_event(TranscriptStop().event())
        _LOG.info(
            "transcribe: %.1f s of %d Hz audio, %d characters, done in %.0f ms",
            transcription.stream.seconds,
            transcription.format.sample_rate,
            len(text),
            (time.perf_counter() - transcription.began) * 1000,
        )
        await self.reset()

    async def reset(self) -> None:
        transcription, self._transcription = self._transcription, None
        if transcription is not None:
            try:
                await transcription.close()
            finally:
                self._sessions.give_back()

    async def disconnect(self) -> None:
        await self.reset()
