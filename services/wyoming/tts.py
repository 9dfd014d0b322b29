"""The Wyoming TTS server: `describe`, `synthesize`, and the streaming form of it.

- `synthesize {text, voice}` answers `audio-start`, an `audio-chunk` for each block the TTS
  service streams (the first comes with the start of the first sentence, not after the whole
  text), and `audio-stop`.
- `synthesize-start {voice}`, `synthesize-chunk {text}`..., `synthesize-stop`: each sentence is
  spoken as soon as the text received so far completes it; the reply is one `audio-start`,
  the chunks of every sentence in order, one `audio-stop`, then `synthesize-stopped`. The
  `synthesize` a client sends inside a stream for older servers is ignored.
- The audio is s16le mono at the voice's own rate (22,050 Hz for a medium Piper voice): the
  rate, width and channels never change within a reply.
"""

from __future__ import annotations

import contextlib
import logging
import time

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, TtsProgram, TtsVoice, TtsVoiceSpeaker
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

from services.wyoming.events import ProtocolHandler, WyomingError
from services.wyoming.program import PROGRAM_NAME, parse, program_attribution
from services.wyoming.sentences import SentenceBuffer
from services.wyoming.tts_service import SAMPLE_WIDTH, ServedVoice, TtsService, Voices

_LOG = logging.getLogger(__name__)


def tts_info(voices: Voices) -> Info:
    return Info(
        tts=[
            TtsProgram(
                name=PROGRAM_NAME,
                attribution=program_attribution(),
                installed=True,
                description="Streaming text-to-speech (Piper and Silero voices on ONNX Runtime)",
                version=None,
                voices=[_tts_voice(voice) for voice in voices.voices.values()],
                supports_synthesize_streaming=True,
            )
        ]
    )


def _tts_voice(voice: ServedVoice) -> TtsVoice:
    described = voice.description
    source = described.get("source") or {}
    package = source.get("package")
    url = source.get("url") or (f"https://pypi.org/project/{package}/" if package else "")
    license_text = described.get("license")
    return TtsVoice(
        name=voice.id,
        attribution=Attribution(name=package or str(described.get("engine", "")), url=url),
        installed=True,
        description=f"{described.get('engine', '')} voice, {voice.sample_rate} Hz"
        + (f"; license: {license_text}" if license_text else ""),
        version=source.get("version"),
        languages=[voice.language] if voice.language else [],
        speakers=[TtsVoiceSpeaker(name=voice.speaker)] if voice.speaker else None,
    )


def choose_voice(voices: Voices, wanted: SynthesizeVoice | None) -> ServedVoice:
    """The voice a request names, else the first in its language, else the default voice."""
    if wanted is not None and wanted.name:
        voice = voices.voices.get(wanted.name)
        if voice is None:
            known = ", ".join(voices.voices) or "none"
            raise WyomingError("unknown_voice", f"no voice is named {wanted.name!r}; voices: {known}")
        if wanted.speaker and wanted.speaker != voice.speaker:
            raise WyomingError(
                "unknown_speaker",
                f"voice {voice.id!r} speaks as {voice.speaker or 'its only speaker'}, not {wanted.speaker!r}",
            )
        return voice
    if wanted is not None and wanted.language:
        for voice in voices.voices.values():
            if _same_language(voice.language, wanted.language):
                return voice
        raise WyomingError("unknown_voice", f"no voice speaks {wanted.language!r}")
    if voices.default is None or voices.default not in voices.voices:
        raise WyomingError("no_voice", "the TTS service has no voice loaded")
    return voices.voices[voices.default]


def _same_language(served: str | None, asked: str) -> bool:
    """ "en_US" serves "en_US", "en-us" and "en"."""
    if not served:
        return False
    served_tag, asked_tag = served.replace("-", "_").lower(), asked.replace("-", "_").lower()
    return served_tag == asked_tag or served_tag.split("_")[0] == asked_tag


class Reply:
    """One reply's audio: `audio-start` before the first sentence's audio, then its chunks."""

    def __init__(self, handler: TtsHandler, service: TtsService, voice: ServedVoice) -> None:
        self._handler = handler
        self._service = service
        self.voice = voice
        self.started = False
        self.began = time.perf_counter()
        self.first_audio: float | None = None
        self.chars = 0

    async def start(self) -> None:
        if not self.started:
            self.started = True
            await self._handler.write_event(self._format(AudioStart).event())

    async def speak(self, text: str) -> None:
        self.chars += len(text)
        if not text.strip():
            return
        # Closed at once if the client leaves mid-sentence, so the service stops synthesizing.
        async with contextlib.aclosing(self._service.speech(text, self.voice)) as blocks:
            async for block in blocks:
                await self.start()
                self.first_audio = self.first_audio or time.perf_counter()
                await self._handler.write_event(self._format(AudioChunk, audio=block).event())

    async def stop(self) -> None:
        await self.start()
        await self._handler.write_event(AudioStop().event())

    def _format(self, event_class: type, **fields: object) -> AudioStart | AudioChunk:
        return event_class(rate=self.voice.sample_rate, width=SAMPLE_WIDTH, channels=1, **fields)


class TtsHandler(ProtocolHandler):
    def __init__(self, *args: object, service: TtsService, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._service = service
        self._stream: Reply | None = None
        self._sentences = SentenceBuffer()

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event(tts_info(await self._service.voices(fresh=True)).event())
        elif Synthesize.is_type(event.type):
            if self._stream is None:  # inside a stream it only repeats the text, for older servers
                await self._synthesize(parse(Synthesize, event))
        elif SynthesizeStart.is_type(event.type):
            await self._start_stream(parse(SynthesizeStart, event))
        elif SynthesizeChunk.is_type(event.type):
            await self._stream_chunk(parse(SynthesizeChunk, event).text)
        elif SynthesizeStop.is_type(event.type):
            await self._stop_stream()
        # Other events are not for this server: dropped, as the protocol asks.
        return True

    async def reset(self) -> None:
        self._stream = None
        self._sentences = SentenceBuffer()

    async def _synthesize(self, request: Synthesize) -> None:
        if not isinstance(request.text, str) or not request.text.strip():
            raise WyomingError("empty_text", "'text' is empty")
        reply = Reply(self, self._service, choose_voice(await self._service.voices(), request.voice))
        await reply.speak(request.text)
        await reply.stop()
        _log_reply("synthesize", reply)

    async def _start_stream(self, start: SynthesizeStart) -> None:
        voice = choose_voice(await self._service.voices(), start.voice)
        self._stream = Reply(self, self._service, voice)
        self._sentences = SentenceBuffer()

    async def _stream_chunk(self, text: str) -> None:
        if self._stream is None:
            raise WyomingError("no_stream", "synthesize-chunk came outside a stream: send synthesize-start first")
        if not isinstance(text, str):
            raise WyomingError("invalid_text", "'text' must be a string")
        for sentence in self._sentences.add(text):
            await self._stream.speak(sentence)

    async def _stop_stream(self) -> None:
        if self._stream is None:
            raise WyomingError("no_stream", "synthesize-stop came outside a stream: send synthesize-start first")
        reply = self._stream
        await reply.speak(self._sentences.finish())
        await reply.stop()
        await self.write_event(SynthesizeStopped().event())
        await self.reset()
        _log_reply("synthesize stream", reply)


def _log_reply(kind: str, reply: Reply) -> None:
    first = f"{(reply.first_audio - reply.began) * 1000:.0f} ms" if reply.first_audio else "none"
    _LOG.info(
        "%s: %d characters, voice %s, first audio %s, done in %.0f ms",
        kind,
        reply.chars,
        reply.voice.id,
        first,
        (time.perf_counter() - reply.began) * 1000,
    )
