"""Whisper over a stream: voice activity window by window, utterances decoded as pauses end
them, partials that only grow, and the decode queue's order. Real models throughout (Silero
VAD from faster-whisper, Whisper tiny.en, speech from the TTS service)."""

from __future__ import annotations

import difflib
import itertools
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jiwer
import numpy as np
import pytest
import requests
from faster_whisper.vad import get_vad_model

from bench.harness import Server
from services.asr.decode_queue import PARTIAL, URGENT, DecodeQueue
from services.asr.engines.base import LiveOptions, RecognitionOptions, Segment, Transcript
from services.asr.engines.whisper_engine import WhisperEngine, WhisperOptions
from services.asr.engines.whisper_stream import PartialAgreement, WhisperStream
from services.asr.voice_activity import WINDOW_SAMPLES, PauseRules, SpeechProbability, UtteranceTracker
from tests.conftest import WHISPER_DIR

SENTENCES = (
    "The museum opens early in the morning. Visitors can buy tickets at the door or online. "
    "The first floor holds paintings from the last century."
)
BLOCK = 3200  # 0.2 s at 16 kHz, as live clients send it


def speech_16k(tts_server: Server, text: str) -> np.ndarray:
    response = requests.post(f"{tts_server.url}/api/tts", json={"text": text, "sample_rate": 16000}, timeout=120)
    response.raise_for_status()
    return np.frombuffer(response.content, dtype="<i2")


def words_of(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()


def wer(reference: str, hypothesis: str) -> float:
    return jiwer.wer(" ".join(words_of(reference)), " ".join(words_of(hypothesis)) or "-")


@pytest.fixture(scope="module")
def sentences(tts_server: Server) -> np.ndarray:
    """The sentences as a reader says them: a pause of 300 ms after each (the voice's own
    pauses vary from take to take, and some are shorter than ASR_PAUSE_MS)."""
    pause = np.zeros(4800, dtype=np.int16)
    spoken = [speech_16k(tts_server, sentence) for sentence in re.findall(r"[^.]+\.", SENTENCES)]
    return np.concatenate([part for sentence in spoken for part in (sentence, pause)])


@pytest.fixture(scope="module")
def engine(models_dir: Path) -> WhisperEngine:
    return WhisperEngine(models_dir / "asr" / WHISPER_DIR, "tiny.en", WhisperOptions(beam_size=3, num_workers=2))


def blocks(audio: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, len(audio), BLOCK):
        yield audio[start : start + BLOCK]


def test_voice_activity_block_by_block_is_that_of_the_whole_stream(sentences: np.ndarray) -> None:
    audio = sentences[: len(sentences) // WINDOW_SAMPLES * WINDOW_SAMPLES]
    whole = get_vad_model()(audio.astype(np.float32) / 32768.0).ravel()
    detector = SpeechProbability()
    streamed = np.concatenate([detector.push(block) for block in blocks(audio)])
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, atol=0.01)
    assert (whole > 0.5).mean() > 0.5, "the test speech should be mostly speech"


def test_pauses_end_utterances_only_after_enough_speech() -> None:
    rules = PauseRules(pause_ms=160, min_utterance_ms=1000)
    tracker = UtteranceTracker(rules)
    speech, silence = [0.9], [0.1]
    # 0.3 s of speech and a pause: too short to end; then 1 s more and a pause ends it.
    assert tracker.push(np.array(speech * 10 + silence * 6)) == []
    assert tracker.open_start == 0
    ended = tracker.push(np.array(speech * 32 + silence * 6))
    assert len(ended) == 1
    assert ended[0].start == 0 and ended[0].end == (10 + 6 + 32) * WINDOW_SAMPLES
    assert tracker.open_start is None
    # A pause shorter than pause_ms does not end one; the end of the stream does.
    assert tracker.push(np.array(speech * 40 + silence * 3 + speech * 5)) == []
    last = tracker.end()
    assert last is not None and last.end == tracker.last_speech_end
    assert tracker.end() is None


def test_a_partial_grows_only_by_words_two_hypotheses_agree_on() -> None:
    agreement = PartialAgreement()
    agreement.hypothesis("the music")
    assert agreement.agreed == []  # one hypothesis alone is believed in nothing
    agreement.hypothesis("The museum opens")
    assert agreement.agreed == ["The"]
    agreement.hypothesis("The museum opens at nine.")
    assert agreement.agreed == ["The", "museum", "opens"]
    # A hypothesis that reads the agreed start otherwise takes nothing away, nor does a shorter one.
    agreement.hypothesis("A museum opens at nine in")
    assert agreement.agreed == ["The", "museum", "opens"]
    agreement.hypothesis("The museum")
    agreement.hypothesis("The museum opens at nine in the morning")
    agreement.hypothesis("The museum opens at nine in the morning.")
    assert agreement.agreed == ["The", "museum", "opens", "at", "nine", "in", "the", "morning."]


def test_two_hypotheses_in_a_row_that_read_the_start_otherwise_revise_the_partial() -> None:
    agreement = PartialAgreement()
    agreement.hypothesis("This")
    agreement.hypothesis("This is")
    assert agreement.agreed == ["This"]
    # Heard in context, the first word was another; one hypothesis is not enough to say so.
    agreement.hypothesis("Visitors can buy")
    assert agreement.agreed == ["This"]
    agreement.hypothesis("Visitors can buy their tickets")
    assert agreement.agreed == ["Visitors", "can", "buy"]
    agreement.hypothesis("Visitors can buy their tickets at the door")
    assert agreement.agreed == ["Visitors", "can", "buy", "their", "tickets"]


def test_the_decode_queue_runs_what_someone_waits_for_first() -> None:
    queue = DecodeQueue(threads=1)
    started = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def blocker() -> None:
        started.set()
        release.wait(10)

    queue.submit(URGENT, blocker)
    started.wait(10)
    partial = queue.submit(PARTIAL, lambda: order.append("partial"))
    urgent = queue.submit(URGENT, lambda: order.append("urgent"))
    cancelled = queue.submit(URGENT, lambda: order.append("cancelled"))
    cancelled.cancel()
    release.set()
    partial.result(10)
    assert urgent.done() and order == ["urgent", "partial"]

    def fails() -> None:
        raise RuntimeError("decode failed")

    with pytest.raises(RuntimeError, match="decode failed"):
        queue.submit(URGENT, fails).result(10)


def test_early_decoding_gives_the_words_and_times_of_a_whole_decode(
    engine: WhisperEngine, sentences: np.ndarray
) -> None:
    options = RecognitionOptions(language="en")
    early = engine.start(options)
    for block in blocks(sentences):
        early.accept(block)
        time.sleep(0.02)  # let decodes of ended utterances start while the rest arrives
    early_transcript = Transcript.of(early.finish(options))
    whole = engine.start()
    whole.accept(sentences)
    whole_transcript = Transcript.of(whole.finish(options))

    assert len(early_transcript.segments) >= 2, "the pauses between sentences should end utterances"
    assert [segment.id for segment in early_transcript.segments] == list(range(len(early_transcript.segments)))
    assert wer(SENTENCES, early_transcript.text) <= max(wer(SENTENCES, whole_transcript.text), 0.1)
    # The words both decodes read alike are at the same times (Whisper's own word timing
    # varies by a few tens of milliseconds with what surrounds a word).
    early_words, whole_words = early_transcript.words, whole_transcript.words
    matcher = difflib.SequenceMatcher(
        a=[" ".join(words_of(word.text)) for word in early_words],
        b=[" ".join(words_of(word.text)) for word in whole_words],
    )
    gaps = [
        abs(early_words[block.a + k].start_ms - whole_words[block.b + k].start_ms)
        for block in matcher.get_matching_blocks()
        for k in range(block.size)
    ]
    assert len(gaps) >= 0.8 * len(whole_words)
    assert np.median(gaps) <= 60
    # A few words at a sentence's edge differ more: Whisper misplaces them in one decode or the other.
    assert np.mean(np.array(gaps) <= 150) >= 0.8


def test_other_options_at_the_end_decode_the_upload_anew(engine: WhisperEngine, sentences: np.ndarray) -> None:
    session = engine.start(RecognitionOptions(language="en"))
    for block in blocks(sentences):
        session.accept(block)
    prompted = RecognitionOptions(language="en", prompt="Museum tickets.")
    transcript = Transcript.of(session.finish(prompted))
    whole = engine.start()
    whole.accept(sentences)
    assert transcript.text == Transcript.of(whole.finish(prompted)).text


def test_a_live_session_gives_growing_partials_then_each_utterance(
    engine: WhisperEngine, sentences: np.ndarray
) -> None:
    session = engine.start_live(LiveOptions(language="en"))
    partials: list[str] = []
    finished = []
    try:
        for block in blocks(sentences):
            session.accept(block)
            time.sleep(0.2)  # real time: the partials are decoded beside the stream
            finished += session.take_finished()
            partial = session.partial()
            if partial and (not partials or partial != partials[-1]):
                partials.append(partial)
        finished += session.end_utterance()
    finally:
        session.close()
    assert partials, "no partial before the end"
    # Within an utterance a partial only grows: each one starts with the one before, or a new
    # utterance has begun.
    grew = sum(1 for before, after in itertools.pairwise(partials) if after.startswith(before))
    assert grew >= 1
    assert len(finished) >= 2
    text = " ".join(utterance.text for utterance in finished)
    assert wer(SENTENCES, text) <= 0.15
    times = [word.start_ms for utterance in finished for word in utterance.words]
    assert times == sorted(times) and times[-1] > 5000, "word times count from the start of the stream"


class RecordingDecode:
    """A decode that records the audio it was given (the stream's scheduling is under test)."""

    def __init__(self) -> None:
        self.lengths: list[int] = []

    def __call__(self, audio: np.ndarray) -> list[Segment]:
        self.lengths.append(len(audio))
        return []


def test_the_last_utterance_is_decoded_on_speculation_when_speech_stops(tts_server: Server) -> None:
    sentence = speech_16k(tts_server, "Turn off the lights in the kitchen.")
    decode = RecordingDecode()
    stream = WhisperStream(decode, DecodeQueue(threads=1), PauseRules())
    for block in blocks(np.concatenate([sentence, np.zeros(1600, dtype=np.int16)])):
        stream.accept(block)
    time.sleep(0.5)  # the speculative decode runs as soon as speech has stopped
    assert decode.lengths, "no decode began when the speech stopped"
    stream.end()  # the stream ends with no speech since: that decode is the utterance's
    decodes = stream.finished()
    assert len(decodes) == 1
    decodes[0].result(10)
    assert len(decode.lengths) == 1
    assert decode.lengths[0] >= len(sentence) - 2 * BLOCK


def test_speech_that_goes_on_after_a_speculation_is_decoded_whole(tts_server: Server) -> None:
    first = speech_16k(tts_server, "Open the window.")
    second = speech_16k(tts_server, "And close the door.")
    gap = np.zeros(1600, dtype=np.int16)  # 100 ms: a speculation begins, the utterance goes on
    decode = RecordingDecode()
    stream = WhisperStream(decode, DecodeQueue(threads=1), PauseRules(pause_ms=400))
    for block in blocks(first):
        stream.accept(block)
    for block in blocks(gap):
        stream.accept(block)
        time.sleep(0.05)
    for block in blocks(second):
        stream.accept(block)
    stream.end()
    decodes = stream.finished()
    assert len(decodes) == 1
    decodes[0].result(10)
    # The one decode of the utterance holds both sentences; a speculation before it was dropped.
    assert decode.lengths[-1] >= len(first) + len(second) - 4 * BLOCK
