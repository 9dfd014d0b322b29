"""The recognition layer every ASR front door calls: audio blocks in, segments out.

It feeds an upload to an engine session as its blocks arrive, turns what is wrong with the
input into 4xx errors, checks a request's language against the model, and bounds the decodes
at work (past capacity: 503 with Retry-After). The front doors (native, OpenAI's) parse their
protocol and shape the answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import falcon
import numpy as np

from services.asr.audio_input import AudioInputError, PcmFormat
from services.asr.containers import UploadTooLarge
from services.asr.engines.base import (
    Engine,
    LiveOptions,
    RecognitionOptions,
    RecognitionSession,
    Segment,
    Transcript,
)
from services.asr.live import LiveStream
from services.asr.models import EngineChoice
from services.asr.settings import AsrSettings
from services.asr.upload import AudioTooLong, UploadLimits
from services.common.admission import AdmissionGate
from services.common.errors import api_error


@dataclass(frozen=True)
class UploadTiming:
    """`time.perf_counter()` readings: the upload's start, its first audio, and its end."""

    started: float
    first_audio: float
    done: float


class Decoding:
    """An utterance being decoded, holding a decode place until it is closed: its language,
    and its segments as they are decoded."""

    def __init__(self, language: str, segments: Iterator[Segment], release: Callable[[], None]) -> None:
        self.language = language
        self._segments = segments
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> Iterator[Segment]:
        return self._segments

    def close(self) -> None:
        if self._release is not None:
            self._release, release = None, self._release
            release()


class Recognizer:
    def __init__(self, choice: EngineChoice, settings: AsrSettings) -> None:
        self._choice = choice
        self.limits = UploadLimits(settings.max_audio_seconds, settings.block_bytes)
        self.max_upload_bytes = settings.max_upload_bytes
        self.read_timeout = settings.read_timeout_seconds
        # Uploads only wait for bytes; what a gate bounds is the decoding left at their end.
        self._gate = AdmissionGate(settings.max_decodes, settings.max_queue, settings.queue_seconds)

    def engine(self) -> Engine:
        engine = self._choice.engine
        if engine is None:
            raise api_error(falcon.HTTP_503, "no_model", "; ".join(self._choice.notes) or "no ASR model is loaded")
        return engine

    @staticmethod
    def language(engine: Engine, requested: str | None, param: str) -> str | None:
        """The model's code for the requested language ("en-US" -> "en"), None for "detect" or
        the model's own; 422 for a language the model does not know."""
        if not requested or not requested.strip():
            return None
        primary = requested.strip().lower().split("-")[0].split("_")[0]
        if engine.languages is None or primary in engine.languages:
            return primary
        supported = ", ".join(sorted(engine.languages))
        raise api_error(
            falcon.HTTP_422,
            "unsupported_language",
            f"{param}={requested!r} is not supported by this model; supported: {supported}",
            param=param,
        )

    def start_live(self, options: LiveOptions, fmt: PcmFormat) -> LiveStream:
        """A live stream of the client's audio in `fmt`; ValueError for a rate out of range.
        Each utterance is bounded as an upload is (MAX_AUDIO_DURATION)."""
        return LiveStream(self.engine().start_live(options), fmt, self.limits.max_seconds)

    def feed(self, session: RecognitionSession, blocks: Iterable[np.ndarray]) -> UploadTiming:
        """Give the engine each block of the upload as it arrives."""
        started = time.perf_counter()
        first_audio = None
        # An error before the whole body is read still answers at once; gunicorn then reads and
        # drops whatever the client goes on sending, or closes the connection once it idles.
        try:
            for block in blocks:
                first_audio = first_audio or time.perf_counter()
                session.accept(block)
        except AudioTooLong as error:
            raise api_error(falcon.HTTP_413, "audio_too_long", str(error), param="file") from None
        except UploadTooLarge as error:
            raise api_error(falcon.HTTP_413, "body_too_large", str(error), param="file") from None
        except AudioInputError as error:
            raise api_error(falcon.HTTP_400, "invalid_audio", str(error), param="file") from None
        except TimeoutError:
            message = f"no audio arrived for {self.read_timeout:g} s; the upload was dropped"
            raise api_error(falcon.HTTP_408, "upload_stalled", message) from None
        done = time.perf_counter()
        return UploadTiming(started, first_audio or done, done)

    def transcribe(self, session: RecognitionSession, options: RecognitionOptions) -> Transcript:
        """Decode what is left of the utterance, whole."""
        decoding = self.decode(session, options)
        try:
            return Transcript(decoding.language, list(decoding))
        finally:
            decoding.close()

    def decode(self, session: RecognitionSession, options: RecognitionOptions) -> Decoding:
        """Start decoding what is left; the caller takes the segments as they come, then closes."""
        self._gate.enter()
        try:
            recognition = session.finish(options)
        except BaseException:
            self._gate.leave()
            raise
        return Decoding(recognition.language, recognition.segments, self._gate.leave)
