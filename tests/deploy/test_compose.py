"""What only Docker has, on the compose stack the end-to-end tests have just used.

`make test-docker` runs these after tests/test_gateway.py and tests/test_openai_api.py, in this
order: the last ones restart, recreate and finally remove the stack.
"""

from __future__ import annotations

import asyncio
import re
import time

import numpy as np
import pytest
import requests
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize

from tests.conftest import pcm_to_float, transcribe
from tests.deploy.docker import ComposeProject, container_health, run

SENTENCE = "The quick brown fox jumps over the lazy dog."


def assert_round_trip(stack: ComposeProject, whisper) -> None:
    """Speech from the stack's TTS, recognized by its ASR, is the sentence spoken."""
    pcm = stack.speak(SENTENCE)
    response = requests.post(f"{stack.gateway_url}/api/stt/bytes?sr=16000&ch=1&fmt=s16le", data=pcm, timeout=60)
    assert response.status_code == 200, response.text
    assert "quick brown fox" in response.json()["text"].lower()
    assert "quick brown fox" in transcribe(whisper, pcm_to_float(pcm)).lower()


def test_every_process_of_every_service_runs_unprivileged(compose_stack: ComposeProject) -> None:
    for service in compose_stack.running_services:
        processes = run(["docker", "top", compose_stack.container(service), "-eo", "pid,uid,args"]).splitlines()[1:]
        assert processes, service
        for process in processes:
            _, uid, command = process.split(None, 2)
            assert uid != "0", f"{service} runs {command!r} as root"


def test_health_checks_are_healthy_and_the_export_finished(compose_stack: ComposeProject) -> None:
    for service in compose_stack.running_services:
        assert container_health(compose_stack.container(service)) == "healthy", service
    export = compose_stack.container("export")
    assert run(["docker", "inspect", "--format", "{{.State.ExitCode}}", export]).strip() == "0"


def test_recognition_yields_the_cpu_to_speech_by_weight(compose_stack: ComposeProject) -> None:
    """Nice values do not reach across containers: the cgroups' weights share the CPU."""

    def shares(service: str) -> int:
        return int(
            run(["docker", "inspect", "--format", "{{.HostConfig.CpuShares}}", compose_stack.container(service)])
        )

    assert shares("asr") == shares("realtime") == shares("wyoming-asr") == 335
    assert shares("tts") in (0, 1024)  # the default weight


def test_every_service_logs_to_the_speech_logs_volume(compose_stack: ComposeProject) -> None:
    listing = compose_stack.compose("exec", "-T", "gateway", "ls", "/logs").split()
    logs = ("tts.log", "asr.log", "realtime.log", "wyoming-tts.log", "wyoming-asr.log", "orchestrator.log")
    for log in (*logs, "gateway.access.log", "gateway.error.log"):
        assert log in listing, f"{log} is not on the speech_logs volume: {listing}"
    # The requests of the end-to-end tests are in the gateway's log, and each service's start in its own.
    access = compose_stack.compose("exec", "-T", "gateway", "cat", "/logs/gateway.access.log")
    assert "POST /api/tts" in access and "POST /v1/audio/transcriptions" in access
    for service in ("tts", "asr", "realtime", "orchestrator"):
        assert f"services.{service}." in compose_stack.compose("exec", "-T", "gateway", "cat", f"/logs/{service}.log")
    for kind in ("tts", "asr"):
        log = compose_stack.compose("exec", "-T", "gateway", "cat", f"/logs/wyoming-{kind}.log")
        assert f"Wyoming {kind.upper()} server listening" in log


def test_home_assistant_reaches_the_wyoming_servers_on_their_published_ports(compose_stack: ComposeProject) -> None:
    """What Home Assistant does with the addresses it is given: describe, then speech from the
    TTS server heard by the ASR server; the gateway's health report includes both."""

    async def describe_and_round_trip() -> tuple[Info, Info, str]:
        tts = AsyncTcpClient("127.0.0.1", compose_stack.ports["WYOMING_TTS_PORT"])
        asr = AsyncTcpClient("127.0.0.1", compose_stack.ports["WYOMING_ASR_PORT"])
        async with tts:
            await tts.write_event(Describe().event())
            tts_info = Info.from_event(await tts.read_event())
            await tts.write_event(Synthesize(text=SENTENCE).event())
            audio, audio_format = b"", None
            while (event := await tts.read_event()).type != "audio-stop":
                if event.type == "audio-chunk":
                    audio_format, audio = AudioChunk.from_event(event), audio + (event.payload or b"")
        async with asr:
            await asr.write_event(Describe().event())
            asr_info = Info.from_event(await asr.read_event())
            await asr.write_event(Transcribe(language="en").event())
            await asr.write_event(AudioStart(audio_format.rate, audio_format.width, audio_format.channels).event())
            await asr.write_event(
                AudioChunk(audio_format.rate, audio_format.width, audio_format.channels, audio).event()
            )
            await asr.write_event(AudioStop().event())
            while (event := await asr.read_event()).type != "transcript":
                assert event.type != "error", event.data
            return tts_info, asr_info, event.data["text"]

    tts_info, asr_info, text = asyncio.run(asyncio.wait_for(describe_and_round_trip(), 120))
    assert tts_info.tts[0].voices and asr_info.asr[0].models
    assert "quick brown fox" in text.lower(), text
    report = requests.get(f"{compose_stack.gateway_url}/healthz", timeout=10).json()
    assert report["services"]["wyoming-tts"]["status"] == report["services"]["wyoming-asr"]["status"] == "ok"


def test_a_restarted_tts_serves_again_with_no_manual_step(compose_stack: ComposeProject) -> None:
    compose_stack.compose("restart", "tts", timeout=120)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            pcm = compose_stack.speak("Back again.")
            break
        except requests.RequestException:  # refused, 502 or 503 while TTS starts again: what the wait is for
            time.sleep(1)
    else:
        pytest.fail("TTS did not serve again within 180 s of `docker compose restart tts`")
    assert np.abs(pcm_to_float(pcm)).max() > 0.05
    compose_stack.wait_until_healthy()


def test_down_then_the_original_command_reuses_the_exported_models(compose_stack: ComposeProject, whisper) -> None:
    """`down` keeps the volumes; Compose 1.29's `docker-compose up --build` (the original README's
    command) rebuilds, finds the models exported and serves them."""
    compose_stack.compose("down", timeout=180)
    assert not compose_stack.leftovers()["container"]
    compose_stack.compose("up", "--build", "--detach", version=1, timeout=3600)
    compose_stack.wait_until_healthy()
    export_log = run(["docker", "logs", compose_stack.container("export")])
    statuses = re.findall(r"^  (\S+) +(exported|skipped|failed) ", export_log, re.MULTILINE)
    assert statuses and all(status == "skipped" for _, status in statuses), export_log
    up_to_date = [line for line in export_log.splitlines() if " skipped " in line and "up to date" in line]
    assert len(up_to_date) >= 2, export_log  # the Piper voice and Whisper at least
    assert_round_trip(compose_stack, whisper)


def test_down_with_volumes_leaves_nothing_behind(compose_stack: ComposeProject) -> None:
    compose_stack.compose("down", "--volumes", "--remove-orphans", timeout=180)
    assert compose_stack.leftovers() == {"container": [], "volume": [], "network": []}
