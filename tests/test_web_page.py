"""The page at GET / (web/), in a real browser against the real stack.

Chromium's microphone is faked with speech the TTS service made, so Transcribe, Live captions
and Echo hear a real voice, and the words must come back on the page. Speak must play: its own
time-to-first-audio figure appears, sound goes through the page's audio graph, and the WAV it
offers is speech Whisper understands. The flow tests share one page load, in file order, and
leave every panel filled: the page as a user sees it, kept as tests/artifacts/page.png. A
failed test leaves screenshots of each panel and the console under tests/artifacts/<test>/.
"""

from __future__ import annotations

import io
import re
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import jiwer
import pytest
import requests
import soxr
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from bench.harness import ROOT, Endpoint, Gateway, Server, start_gateway, start_service
from tests.browser import WINDOW, chromium, console_errors, full_page_screenshot, keep_evidence
from tests.conftest import API_KEYS_UNDER_TEST, VOICE_ID, has_failed, pcm_to_float, transcribe, wav_bytes
from tests.media import encode_file
from tests.test_intelligibility import words

ARTIFACTS = ROOT / "tests" / "artifacts"
PANELS = ("speak", "transcribe", "captions", "echo")
# What the fake microphone says (with silence around it: a pause ends the utterance).
SPOKEN = "The quick brown fox jumps over the lazy dog."
MICROPHONE_RATE = 48000
SILENCE_BEFORE, SILENCE_AFTER = 0.5, 1.0
# What the Speak panel is asked to say: two sentences, so the stream has more than one piece.
TO_SPEAK = "Good morning. The weather today is sunny with a light breeze from the west."
# A recording picked as a file (Chrome records WebM with Opus).
IN_THE_FILE = "Please call me back after lunch tomorrow."
WAIT_SECONDS = 30
PHONE = (390, 844)  # a phone's screen in CSS pixels
# A limit on audio (MAX_AUDIO_DURATION) shorter than what the fake microphone says.
SHORT_LIMIT = 3


def spoken_wav(gateway_url: str, text: str, rate: int) -> bytes:
    """`text` from the TTS service as a 16-bit mono WAV at `rate`, with silence around it."""
    response = requests.post(f"{gateway_url}/api/tts", json={"text": text, "sample_rate": rate}, timeout=60)
    assert response.status_code == 200, response.text
    before, after = (bytes(2 * int(rate * seconds)) for seconds in (SILENCE_BEFORE, SILENCE_AFTER))
    return wav_bytes(before + response.content + after, rate)


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as file:
        return file.getnframes() / file.getframerate()


def wer(expected: str, heard: str) -> float:
    return jiwer.wer(words(expected), words(heard))


@pytest.fixture(scope="module")
def microphone(gateway: Endpoint, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("microphone") / "speech.wav"
    path.write_bytes(spoken_wav(gateway.url, SPOKEN, MICROPHONE_RATE))
    return path


@pytest.fixture(scope="module")
def browser(microphone: Path) -> Iterator[WebDriver]:
    driver = chromium(microphone)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page(browser: WebDriver, gateway: Endpoint) -> Iterator[WebDriver]:
    """The page, loaded once for the flow tests; kept as a screenshot once they are done."""
    browser.get(f"{gateway.url}/")
    yield browser
    full_page_screenshot(browser, ARTIFACTS / "page.png")


def keep_evidence_of_failure(request: pytest.FixtureRequest, browser: WebDriver) -> None:
    if has_failed(request.node):
        keep_evidence(browser, ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name), PANELS)


@pytest.fixture(autouse=True)
def evidence(request: pytest.FixtureRequest) -> Iterator[None]:
    """Screenshots of each panel and the console, for a test of the shared page that failed
    (a test in a tab of its own keeps them as its tab closes)."""
    yield
    if "browser" in request.fixturenames and "new_tab" not in request.fixturenames:
        keep_evidence_of_failure(request, request.getfixturevalue("browser"))


@pytest.fixture
def new_tab(browser: WebDriver, request: pytest.FixtureRequest) -> Iterator[WebDriver]:
    """A tab of its own (the shared page keeps its state), closed afterwards."""
    shared = browser.current_window_handle
    browser.switch_to.new_window("tab")
    yield browser
    keep_evidence_of_failure(request, browser)
    browser.close()
    browser.switch_to.window(shared)


def wait_for(browser: WebDriver, condition, message: str, seconds: float = WAIT_SECONDS):
    return WebDriverWait(browser, seconds, poll_frequency=0.1).until(lambda _: condition(), message)


def text_of(browser: WebDriver, element_id: str) -> str:
    return browser.find_element(By.ID, element_id).text


def error_of(browser: WebDriver, panel: str) -> str:
    return text_of(browser, f"{panel}-error")


def record_the_microphone(browser: WebDriver, panel: str, microphone: Path, stop_button: str) -> None:
    """Records through the panel for as long as the fake microphone speaks, then stops."""
    browser.find_element(By.ID, f"{panel}-record").click()
    wait_for(browser, lambda: browser.find_element(By.ID, stop_button).is_enabled() or error_of(browser, panel),
             "recording did not start")  # fmt: skip
    assert not error_of(browser, panel)
    time.sleep(wav_seconds(microphone.read_bytes()) + 0.3)
    browser.find_element(By.ID, stop_button).click()


def caption_the_microphone(browser: WebDriver) -> str:
    """Starts live captions, waits for the first line to settle, stops; that line, checked."""
    browser.find_element(By.ID, "captions-start").click()
    final = wait_for(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "#captions-lines p.final")
                     or error_of(browser, "captions"), "no caption settled")  # fmt: skip
    assert not error_of(browser, "captions")
    assert wer(SPOKEN, final[0].text) <= 0.1, final[0].text
    browser.find_element(By.ID, "captions-stop").click()
    wait_for(browser, lambda: text_of(browser, "captions-status") == "Stopped." or error_of(browser, "captions"),
             "the session did not end")  # fmt: skip
    assert not error_of(browser, "captions")
    return final[0].text


def test_the_page_loads_everything_from_the_gateway_with_no_console_error(page: WebDriver, gateway: Endpoint) -> None:
    answer = requests.get(f"{gateway.url}/", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    assert page.title == "streaming-tts-stt"
    voice = Select(page.find_element(By.ID, "speak-voice"))
    wait_for(page, lambda: voice.options, "the voice list did not load")
    assert voice.first_selected_option.get_attribute("value") == VOICE_ID
    # Nothing came from outside the stack: every resource the page loaded is the gateway's.
    loaded = page.execute_script("return performance.getEntriesByType('resource').map((entry) => entry.name)")
    assert loaded, "the page loaded no script or style"
    assert all(url.startswith(f"{gateway.url}/") for url in loaded), loaded
    assert console_errors(page, failed_requests=True) == []


def test_speak_plays_the_stream_as_it_arrives(page: WebDriver, whisper, tmp_path: Path) -> None:
    text = page.find_element(By.ID, "speak-text")
    text.clear()
    text.send_keys(TO_SPEAK)
    page.find_element(By.ID, "speak-start").click()
    status = wait_for(page, lambda: re.search(
        r"First audio after (\d+) ms, all of it after (\d+) ms; ([\d.]+) s of audio", text_of(page, "speak-status"),
    ) or error_of(page, "speak"), "Speak did not finish")  # fmt: skip
    assert not error_of(page, "speak")
    first_ms, all_ms, seconds = int(status[1]), int(status[2]), float(status[3])
    assert 0 < first_ms < all_ms, "the first audio came no sooner than the last"
    assert seconds > 2.5
    # Sound went through the page's audio graph: its output level rose while it played.
    wait_for(page, lambda: float(page.find_element(By.ID, "speak-level").get_attribute("data-peak") or 0) > 0.05,
             "no sound came out of the audio graph")  # fmt: skip
    # The WAV offered for download is the speech that played.
    downloads = tmp_path / "downloads"
    page.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    page.find_element(By.ID, "speak-download").click()
    saved = downloads / "speech.wav"
    wait_for(page, saved.is_file, "the WAV was not downloaded")
    with wave.open(str(saved)) as file:
        rate, pcm = file.getframerate(), file.readframes(file.getnframes())
    assert abs(len(pcm) / 2 / rate - seconds) < 0.05
    heard = transcribe(whisper, soxr.resample(pcm_to_float(pcm), rate, 16000))
    assert wer(TO_SPEAK, heard) <= 0.1, heard
    assert console_errors(page) == []


def test_transcribe_a_picked_file_and_play_its_words(page: WebDriver, gateway: Endpoint, tmp_path: Path) -> None:
    response = requests.post(f"{gateway.url}/api/tts", json={"text": IN_THE_FILE, "sample_rate": 48000}, timeout=60)
    recording = tmp_path / "voice-memo.webm"
    recording.write_bytes(encode_file(pcm_to_float(response.content), 48000, "webm"))
    page.find_element(By.ID, "transcribe-file").send_keys(str(recording))
    wait_for(page, lambda: page.find_elements(By.CSS_SELECTOR, "#transcribe-words button")
             or error_of(page, "transcribe"), "no words came back")  # fmt: skip
    assert not error_of(page, "transcribe")
    assert wer(IN_THE_FILE, text_of(page, "transcribe-text")) <= 0.1
    # The browser decoded the file too, so each word plays its span of it.
    first_word = page.find_element(By.CSS_SELECTOR, "#transcribe-words button")
    assert first_word.is_enabled()
    first_word.click()
    assert console_errors(page) == []


def test_transcribe_what_the_microphone_heard(page: WebDriver, microphone: Path) -> None:
    record_the_microphone(page, "transcribe", microphone, "transcribe-stop")
    wait_for(page, lambda: "transcribed in" in text_of(page, "transcribe-status") or error_of(page, "transcribe"),
             "no transcript came back")  # fmt: skip
    assert not error_of(page, "transcribe")
    assert wer(SPOKEN, text_of(page, "transcribe-text")) <= 0.1, text_of(page, "transcribe-text")
    # One button per word, each labelled with its start, in the order spoken, after the silence.
    buttons = page.find_elements(By.CSS_SELECTOR, "#transcribe-words button")
    labels = [button.find_element(By.TAG_NAME, "span").text for button in buttons]
    assert labels == text_of(page, "transcribe-text").split()
    starts = [float(button.find_element(By.TAG_NAME, "small").text) for button in buttons]
    assert starts == sorted(starts)
    assert starts[0] >= SILENCE_BEFORE - 0.2
    buttons[1].click()
    assert console_errors(page) == []


def test_live_captions_grow_then_settle(page: WebDriver) -> None:
    # Every text the partial line shows, in order.
    page.execute_script(
        "window.partialsSeen = [];"
        "new MutationObserver(() => window.partialsSeen.push(document.getElementById('captions-partial').textContent))"
        "  .observe(document.getElementById('captions-partial'), {childList: true, characterData: true, subtree: true});"
    )
    final = caption_the_microphone(page)
    partials = [text for text in page.execute_script("return window.partialsSeen") if text]
    assert partials, "no partial result was shown"
    assert len(partials[0].split()) < len(final.split()), partials
    assert page.find_element(By.ID, "captions-start").is_enabled()
    assert console_errors(page) == []


def test_echo_speaks_back_what_it_heard(page: WebDriver, microphone: Path) -> None:
    record_the_microphone(page, "echo", microphone, "echo-stop")
    wait_for(page, lambda: "The answer began" in text_of(page, "echo-status") or error_of(page, "echo"),
             "no answer came back")  # fmt: skip
    assert not error_of(page, "echo")
    assert wer(SPOKEN, text_of(page, "echo-text")) <= 0.1, text_of(page, "echo-text")
    wait_for(page, lambda: float(page.find_element(By.ID, "echo-level").get_attribute("data-peak") or 0) > 0.05,
             "the answer made no sound")  # fmt: skip
    wait_for(page, lambda: page.find_element(By.ID, "echo-record").is_enabled(), "the answer did not end")
    assert console_errors(page) == []


@pytest.fixture(scope="module")
def short_recordings_gateway(
    tts_server: Server, orchestrator: Server, models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """A gateway whose ASR service takes at most SHORT_LIMIT seconds of audio."""
    work = tmp_path_factory.mktemp("short-recordings")
    asr = start_service("asr", models_dir, work / "asr.log", ASR_ENGINE="whisper", MAX_AUDIO_DURATION=str(SHORT_LIMIT))
    gateway = start_gateway(work, tts_server.url, asr.url, orchestrator.url, max_audio_seconds=SHORT_LIMIT)
    yield gateway
    gateway.stop()
    asr.stop()


def test_a_recording_stops_at_the_longest_audio_taken(new_tab: WebDriver, short_recordings_gateway: Gateway) -> None:
    """The microphone speaks for longer than the limit: the recording stops by itself, under it,
    and what was said until then is transcribed (instead of refused after the fact)."""
    new_tab.get(f"{short_recordings_gateway.url}/")
    new_tab.find_element(By.ID, "transcribe-record").click()
    wait_for(new_tab, lambda: f"at most {SHORT_LIMIT} s" in text_of(new_tab, "transcribe-status"), "no limit shown")
    status = wait_for(new_tab, lambda: re.search(r"([\d.]+) s of audio, transcribed", text_of(new_tab, "transcribe-status"))
                      or error_of(new_tab, "transcribe"), "the recording did not stop by itself")  # fmt: skip
    assert not error_of(new_tab, "transcribe")
    assert float(status[1]) < SHORT_LIMIT
    heard = words(text_of(new_tab, "transcribe-text")).split()
    assert heard and len(heard) < len(words(SPOKEN).split()), heard
    assert console_errors(new_tab) == []


def test_on_a_phone_the_panels_stack_and_nothing_scrolls_sideways(new_tab: WebDriver, gateway: Endpoint) -> None:
    new_tab.set_window_size(*PHONE)
    try:
        new_tab.get(f"{gateway.url}/")
        width = new_tab.execute_script("return document.documentElement.clientWidth")
        assert new_tab.execute_script("return document.documentElement.scrollWidth") <= width
        panels = [new_tab.find_element(By.ID, panel).rect for panel in PANELS]
        assert len({round(rect["x"]) for rect in panels}) == 1, "the panels are not in one column"
        assert all(rect["x"] >= 0 and rect["x"] + rect["width"] <= width for rect in panels)
        # Buttons big enough for a finger (at least 40 CSS pixels high).
        buttons = new_tab.find_elements(By.CSS_SELECTOR, ".panel .row button")
        assert buttons and all(button.rect["height"] >= 40 for button in buttons)
    finally:
        new_tab.set_window_size(*WINDOW)


def test_errors_show_the_servers_own_message(new_tab: WebDriver, gateway: Endpoint, tmp_path: Path) -> None:
    new_tab.get(f"{gateway.url}/")
    # Text with nothing to say: the TTS service's 422, in its words.
    expected = requests.post(f"{gateway.url}/api/tts", json={"text": "   "}, timeout=10).json()["error"]["message"]
    text = new_tab.find_element(By.ID, "speak-text")
    text.clear()
    text.send_keys("   ")
    new_tab.find_element(By.ID, "speak-start").click()
    wait_for(new_tab, lambda: error_of(new_tab, "speak"), "no error was shown")
    assert error_of(new_tab, "speak") == expected
    # A file that is no audio: the ASR service's 400, in its words.
    junk = tmp_path / "notes.wav"
    junk.write_bytes(b"RIFF" + bytes(40) + b"not audio at all")
    expected = requests.post(f"{gateway.url}/api/stt/bytes", data=junk.read_bytes(),
                             headers={"Content-Type": "audio/wav"}, timeout=10).json()["error"]["message"]  # fmt: skip
    new_tab.find_element(By.ID, "transcribe-file").send_keys(str(junk))
    wait_for(new_tab, lambda: error_of(new_tab, "transcribe"), "no error was shown")
    assert error_of(new_tab, "transcribe") == expected
    # Chromium logs the failed requests; nothing else (no uncaught exception) reached the console.
    assert console_errors(new_tab) == []


def test_the_api_key_field_opens_a_keyed_stack(new_tab: WebDriver, keyed_gateway: Gateway) -> None:
    new_tab.get(f"{keyed_gateway.url}/")
    # Without a key even the voice list is refused, and the page says why.
    wait_for(new_tab, lambda: error_of(new_tab, "speak"), "no error was shown")
    assert "API key is required" in error_of(new_tab, "speak")
    new_tab.find_element(By.ID, "key-settings").click()
    new_tab.find_element(By.ID, "api-key").send_keys(API_KEYS_UNDER_TEST.split(",")[1].strip(), Keys.ENTER)
    new_tab.refresh()
    voice = Select(new_tab.find_element(By.ID, "speak-voice"))
    wait_for(new_tab, lambda: voice.options, "the voice list did not load with the key")
    new_tab.find_element(By.ID, "speak-start").click()
    wait_for(new_tab, lambda: "of audio" in text_of(new_tab, "speak-status") or error_of(new_tab, "speak"),
             "Speak did not finish")  # fmt: skip
    assert not error_of(new_tab, "speak")
    # Live captions too: a browser sends no header on a WebSocket, so the key goes as a subprotocol.
    caption_the_microphone(new_tab)
    new_tab.execute_script("localStorage.clear()")
    assert console_errors(new_tab) == []
