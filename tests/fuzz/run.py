"""`make fuzz`: Schemathesis against the whole stack, which this script starts on free loopback
ports (nginx, TTS, ASR, realtime and the orchestrator, as the tests' `gateway` fixture does).

Schemathesis reads the description the gateway serves (/openapi.json) and sends every operation
generated requests, valid and invalid, for FUZZ_SECONDS (default 300). Each response must not be
a 5xx, and its status, media type, headers and body must be what the description says; each
must come within FUZZ_REQUEST_TIMEOUT seconds (default 30), or it counts as a hang. Afterwards
the gateway's access log is read: the run fails on fewer than FUZZ_MIN_REQUESTS requests
(default 2000), on any 5xx, and on any response whose body was cut short (a stream that failed
after its 200); and a traceback in a service's log is a failure too.

    python -m tests.fuzz.run            # MODELS_DIR as for the tests; FUZZ_SEED to replay a run

The services' and the gateway's logs, and Schemathesis' record of failures (`schemathesis
replay <id>`, run there), stay in run/fuzz/ (FUZZ_WORK_DIR) until the next run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from bench.harness import ROOT, Running, start_gateway, start_service

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    )
)
# The gateway's access line (nginx/gateway.conf.template): the request, the status, the client,
# and whether the body went out whole.
ACCESS_LINE = re.compile(
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) \d+ "[^"]*" "(?P<agent>[^"]*)" .* body=(?P<body>\S+)$'
)
SERVICES = ("tts", "asr", "realtime", "orchestrator")
# Spoken by the stack at the start, in each format uploads take, for tests/fuzz/hooks.py: raw PCM
# and WAV at 16 kHz (native TTS), the compressed containers at 24 kHz (OpenAI's speech).
RECORDED_SENTENCE = "Hello world, this is a test."
RECORDINGS = {
    "pcm": ("/api/tts", {"text": RECORDED_SENTENCE}),
    "wav": ("/api/tts/wav", {"text": RECORDED_SENTENCE}),
    **{
        container: ("/v1/audio/speech", {"input": RECORDED_SENTENCE, "response_format": container})
        for container in ("mp3", "opus", "aac", "flac")
    },
}


def setting(name: str, default: int) -> int:
    return int(os.environ.get(name, "").strip() or default)


def start_stack(stack: ExitStack, models_dir: Path, work: Path) -> tuple[str, Path]:
    """The services and the gateway, stopped when `stack` closes: (gateway URL, its log dir)."""

    def started(server: Running) -> Running:
        stack.callback(server.stop)
        return server

    whisper = {"ASR_ENGINE": "whisper"}
    tts = started(start_service("tts", models_dir, work / "tts.log"))
    asr = started(start_service("asr", models_dir, work / "asr.log", **whisper))
    realtime = started(
        start_service("realtime", models_dir, work / "realtime.log", app="services.realtime.asgi:app", **whisper)
    )
    orchestrator = started(
        start_service(
            "orchestrator",
            models_dir,
            work / "orchestrator.log",
            TTS_SERVICE_URL=tts.url,
            ASR_SERVICE_URL=asr.url,
            REALTIME_SERVICE_URL=realtime.url,
        )
    )
    gateway_dir = work / "gateway"
    gateway_dir.mkdir()
    gateway = started(start_gateway(gateway_dir, tts.url, asr.url, orchestrator.url, realtime_url=realtime.url))
    return gateway.url, gateway_dir / "logs"


def make_recordings(gateway_url: str, directory: Path) -> None:
    directory.mkdir()
    for name, (path, fields) in RECORDINGS.items():
        request = urllib.request.Request(
            f"{gateway_url}{path}", data=json.dumps(fields).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            (directory / f"speech.{name}").write_bytes(response.read())


def run_schemathesis(gateway_url: str, work: Path, seconds: int, request_timeout: int) -> int:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{gateway_url}/openapi.json",
        "--url",
        gateway_url,
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing",  # stateful testing needs links between operations; there are none
        "--max-time",
        str(seconds),
        "--request-timeout",
        str(request_timeout),
        "--workers",
        str(setting("FUZZ_WORKERS", 2)),
        "--generation-database",
        "none",
        # Binary bodies and enums leave negative generation little to vary for some operations;
        # that is a limit of generation, not of the API.
        "--suppress-health-check",
        "filter_too_much",
        "--no-color",
    ]
    if os.environ.get("FUZZ_SEED"):
        command += ["--seed", os.environ["FUZZ_SEED"]]
    environment = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.fuzz.hooks",
        "FUZZ_RECORDINGS": str(work / "recordings"),
        "PYTHONPATH": str(ROOT),
    }
    # Run in the work directory, where Schemathesis keeps its record of failures.
    return subprocess.run(command, cwd=work, env=environment, check=False).returncode


def read_access_log(path: Path) -> tuple[int, list[str]]:
    """(requests Schemathesis made, the lines that show a failure: a 5xx or a body cut short)."""
    count, failures = 0, []
    for line in path.read_text(errors="replace").splitlines():
        match = ACCESS_LINE.search(line)
        if match is None:
            continue
        count += match["agent"].startswith("schemathesis/")
        if match["status"].startswith("5") or match["body"] == "cut":
            failures.append(line)
    return count, failures


def tracebacks(work: Path) -> list[str]:
    return [f"{name}.log" for name in SERVICES if "Traceback" in (work / f"{name}.log").read_text(errors="replace")]


def main() -> int:
    # Between 10 and 20 requests a second here, as the machine is loaded: 300 s leave a margin
    # over the 2,000 requests wanted.
    seconds = setting("FUZZ_SECONDS", 300)
    minimum = setting("FUZZ_MIN_REQUESTS", 2000)
    request_timeout = setting("FUZZ_REQUEST_TIMEOUT", 30)
    models_dir = Path(os.environ.get("MODELS_DIR", "models"))
    models_dir = models_dir if models_dir.is_absolute() else ROOT / models_dir
    if not any(models_dir.glob("tts/*/voice.json")) or not any(models_dir.glob("asr/*/model.json")):
        raise SystemExit(f"fuzz: no exported models in {models_dir}: run 'make export' (make fuzz does)")
    work = Path(os.environ.get("FUZZ_WORK_DIR", "") or ROOT / "run" / "fuzz")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with ExitStack() as stack:
        print(f"fuzz: starting the stack (models in {models_dir})", flush=True)
        gateway_url, gateway_logs = start_stack(stack, models_dir, work)
        make_recordings(gateway_url, work / "recordings")
        print(f"fuzz: {seconds} s of Schemathesis against {gateway_url}", flush=True)
        started = time.monotonic()
        exit_code = run_schemathesis(gateway_url, work, seconds, request_timeout)
        elapsed = time.monotonic() - started
        requests, failed_lines = read_access_log(gateway_logs / "gateway.access.log")
        with_tracebacks = tracebacks(work)
        problems = []
        if exit_code != 0:
            problems.append(f"Schemathesis reported failures (exit code {exit_code}; see above)")
        if requests < minimum:
            problems.append(f"only {requests} requests; at least {minimum} are wanted (raise FUZZ_SECONDS)")
        if failed_lines:
            problems.append("the gateway logged a 5xx or a body cut short:\n  " + "\n  ".join(failed_lines[:20]))
        for name in with_tracebacks:
            problems.append(f"{name} holds a traceback:\n{(work / name).read_text(errors='replace')[-4000:]}")
        print(f"fuzz: {requests} requests in {elapsed:.0f} s ({requests / max(elapsed, 1):.1f}/s); logs in {work}")
        for problem in problems:
            print(f"fuzz: FAILED: {problem}")
        if not problems:
            print("fuzz: no 5xx, no response outside the description, no hang")
        # The closing line in the usual "N passed, N failed" form: requests made, problems found.
        print(f"fuzz: {requests} passed, {len(problems)} failed")
        return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
