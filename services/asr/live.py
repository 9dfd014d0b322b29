"""A live recognition stream, as every streaming front door (WebSocket, Wyoming) drives it.

The client's audio (PCM in its own format) is converted to what the engines take, an
utterance longer than the service accepts is refused, and the engine's live session is asked
for partials and finished utterances. The front door only speaks its protocol.
"""

from __future__ import annotations

from collections.abc import Callable

from services.asr.audio_input import ENGINE_SAMPLE_RATE, PcmDecoder, PcmFormat
from services.asr.engines.base import LiveSession, Utterance
from services.asr.upload import AudioTooLong

LOWEST_SAMPLE_RATE, HIGHEST_SAMPLE_RATE = 8000.0, 48000.0


class LiveStream:
    """One client's stream: `accept` its audio, then read what the engine made of it."""

    def __init__(
        self,
        session: LiveSession,
        fmt: PcmFormat,
        max_utterance_seconds: float,
        count_seconds: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        """`count_seconds` is told how much audio the stream held when it closes (the metrics)."""
        if not LOWEST_SAMPLE_RATE <= fmt.sample_rate <= HIGHEST_SAMPLE_RATE:
            raise ValueError(
                f"sample_rate {fmt.sample_rate:g} is outside {LOWEST_SAMPLE_RATE:g} to {HIGHEST_SAMPLE_RATE:g} Hz"
            )
        self._session = session
        self._decoder = PcmDecoder(fmt)
        self._max_utterance_seconds = max_utterance_seconds
        self._samples = 0
        self._count_seconds = count_seconds

    @property
    def seconds(self) -> float:
        """Audio received, in seconds."""
        return self._samples / ENGINE_SAMPLE_RATE

    def accept(self, pcm: bytes) -> None:
        """Feed a frame of the stream's audio (a frame cut in two is completed by the next).
        `AudioTooLong` when the open utterance has run past the limit with no pause."""
        audio = self._decoder.push(pcm)
        self._samples += audio.size
        self._session.accept(audio)
        if self._session.open_seconds() > self._max_utterance_seconds:
            raise AudioTooLong(
                f"an utterance ran past {self._max_utterance_seconds:g} s with no pause "
                "(MAX_AUDIO_DURATION); the stream was closed"
            )

    def take_finished(self) -> list[Utterance]:
        return self._session.take_finished()

    def partial(self) -> str:
        return self._session.partial()

    def end_utterance(self) -> list[Utterance]:
        """End the open utterance (the client asked) and give all that is not yet taken.
        AudioInputError if the audio stops in the middle of a frame."""
        self._decoder.check_whole_frames()
        return self._session.end_utterance()

    def close(self) -> None:
        self._session.close()
        self._count_seconds(self.seconds)
