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
from functools import partial

import falcon
import numpy as np

from services.asr import metrics
from services.asr.audio_input import ENGINE_SAMPLE_RATE, AudioInputError, PcmFormat
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
    """`time.perf_counter()` readings (the upload's start, its first audio, and its end), the
    audio it held, and the time the engine spent on it while it arrived."""

    started: float
    first_audio: float
    done: float
    audio_seconds: float
    engine_seconds: float


class Decoding:
    """An utterance being decoded, holding a decode place until it is closed: its language,
    and its segments as they are decoded. Closed after its last segment, it is counted
    (`finished`); closed before (the client left), it only gives its place back."""

    def __init__(
        self,
        language: str,
        segments: Iterator[Segment],
        release: Callable[[], None],
        finished: Callable[[], None],
    ) -> None:
        self.language = language
        self._segments = segments
        self._release: Callable[[], None] | None = release
        self._finished = finished
        self._complete = False

    def __iter__(self) -> Iterator[Segment]:
        yield from self._segments
        self._complete = True

    def close(self) -> None:
        if self._release is not None:
            self._release, release = None, self._release
            release()
            if self._complete:
                self._finished()


class Recognizer:
    def __init__(self, choice: EngineChoice, settings: AsrSettings) -> None:
        self._choice = choice
        self.limits = UploadLimits(settings.max_audio_seconds, settings.block_bytes)
        self.max_upload_bytes = settings.max_upload_bytes
        self.read_timeout = settings.read_timeout_seconds
        # Uploads only wait for bytes; what a gate bounds is the decoding left at their end.
        self._gate = AdmissionGate(settings.max_decodes, settings.max_queue, settings.queue_seconds)
        if choice.engine is not None:
            metrics.serving(choice.engine.name, choice.engine.model)

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
        engine = self.engine()
        heard = metrics.AUDIO_SECONDS.labels(engine.name, engine.model, "live")
        return LiveStream(engine.start_live(options), fmt, self.limits.max_seconds, heard.inc)

    def feed(self, session: RecognitionSession, blocks: Iterable[np.ndarray]) -> UploadTiming:
        """Give the engine each block of the upload as it arrives."""
        started = time.perf_counter()
        first_audio = None
        samples = 0
        engine_seconds = 0.0
        # An error before the whole body is read still answers at once; gunicorn then reads and
        # drops whatever the client goes on sending, or closes the connection once it idles.
        try:
            for block in blocks:
                first_audio = first_audio or time.perf_counter()
                began = time.perf_counter()
                session.accept(block)
                engine_seconds += time.perf_counter() - began
                samples += block.size
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
        return UploadTiming(started, first_audio or done, done, samples / ENGINE_SAMPLE_RATE, engine_seconds)

    def transcribe(self, session: RecognitionSession, options: RecognitionOptions, upload: UploadTiming) -> Transcript:
        """Decode what is left of the utterance, whole."""
        decoding = self.decode(session, options, upload)
        try:
            return Transcript(decoding.language, list(decoding))
        finally:
            decoding.close()

    def decode(self, session: RecognitionSession, options: RecognitionOptions, upload: UploadTiming) -> Decoding:
        """Start decoding what is left of `upload`; the caller takes the segments as they come,
        then closes."""
        engine = self.engine()
        try:
            self._gate.enter()
        except falcon.HTTPError:
            metrics.REFUSALS.labels(engine.name, engine.model).inc()
            raise
        began = time.perf_counter()
        try:
            recognition = session.finish(options)
        except BaseException:
            self._gate.leave()
            raise
        count = partial(_count_decoded, engine, upload, began)
        return Decoding(recognition.language, recognition.segments, self._gate.leave, count)


def _count_decoded(engine: Engine, upload: UploadTiming, decode_began: float) -> None:
    """An upload's transcript is whole: its audio, the wait after its end, and its decoding's speed."""
    finished = time.perf_counter()
    labels = (engine.name, engine.model)
    metrics.AUDIO_SECONDS.labels(*labels, "upload").inc(upload.audio_seconds)
    metrics.DECODE_AFTER_UPLOAD.labels(*labels).observe(finished - upload.done)
    if upload.audio_seconds > 0:
        decoding_seconds = upload.engine_seconds + (finished - decode_began)
        metrics.REAL_TIME_FACTOR.labels(*labels).observe(decoding_seconds / upload.audio_seconds)
