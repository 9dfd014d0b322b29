"""Echo orchestrator: sends the upload to ASR, then hands the text to Nginx for TTS.

The answer to a successful echo request is an `X-Accel-Redirect` to the gateway's internal TTS
location: Nginx follows it and streams the synthesized audio straight to the client, so this
service never relays audio. Called directly (not through the gateway) it answers 200 with an
empty body and the headers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO
from urllib.parse import urlencode

import falcon
import requests

from services.common.app import create_service_app
from services.common.client_socket import set_body_read_timeout
from services.common.errors import api_error
from services.common.logs import configure_logging
from services.common.metrics import ECHO_WAITED_HEADER
from services.common.server_timing import server_timing
from services.orchestrator import metrics
from services.orchestrator.deep_health import DeepHealth
from services.orchestrator.header_text import encode_header_text
from services.orchestrator.nginx_status import NginxStatus
from services.orchestrator.openai_models import ModelList
from services.orchestrator.settings import OrchestratorSettings
from services.wyoming import probe as wyoming_probe

_LOG = logging.getLogger(__name__)

INTERNAL_TTS_LOCATION = "/_internal/tts"
PASSED_QUERY_PARAMETERS = ("sr", "ch", "fmt", "lang")
ECHO_SAMPLE_RATE = 16000  # the echo answer is PCM s16le 16 kHz mono, as the original


class UploadStalled(Exception):
    """The client stopped sending the body."""


class _Upload:
    """The request body as it arrives, for `requests` to send on to ASR block by block.

    With a known length `requests` sends it under that Content-Length (so ASR can refuse
    over-long audio before reading it); without one, chunked.
    """

    def __init__(self, stream: BinaryIO, block_bytes: int, length: int | None) -> None:
        self._stream = stream
        self._block_bytes = block_bytes
        self.ended_at: float | None = None
        """`time.perf_counter()` when the body's last byte was read."""
        if length is not None:
            self.len = length  # what requests reads as the body length

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                block = self._stream.read(self._block_bytes)
            except TimeoutError as error:
                raise UploadStalled from error
            if not block:
                self.ended_at = time.perf_counter()
                return
            yield block


class Echo:
    def __init__(self, settings: OrchestratorSettings) -> None:
        self._settings = settings

    def _recognize(self, req: falcon.Request, upload: _Upload) -> requests.Response:
        headers = {
            "Content-Type": req.content_type or "application/octet-stream",
            # A new connection per upload, as the gateway does for ASR's: a kept-alive one that
            # ASR closes (idle past its keep-alive) just as the upload goes out fails it, and a
            # body read from the client as it arrives cannot be sent again (a soak found one 502
            # in 6,728 requests).
            "Connection": "close",
        }
        if req.auth:  # the client's API key, for an ASR service that checks keys
            headers["Authorization"] = req.auth
        request_id = req.get_header("X-Request-ID")
        if request_id:  # the gateway's id: ASR logs its part of the echo under the same one
            headers["X-Request-ID"] = request_id
        params = {name: req.get_param(name) for name in PASSED_QUERY_PARAMETERS if req.get_param(name)}
        set_body_read_timeout(req.env, self._settings.read_timeout)
        try:
            return requests.post(
                f"{self._settings.asr_url}/api/stt/bytes",
                params=params,
                data=upload,
                headers=headers,
                timeout=(3, self._settings.request_timeout),
            )
        except UploadStalled:
            raise api_error(falcon.HTTP_408, "upload_stalled", "the upload stopped arriving") from None
        except requests.Timeout:
            raise api_error(falcon.HTTP_504, "asr_timeout", "the ASR service did not answer in time") from None
        except requests.ConnectionError:
            raise api_error(falcon.HTTP_502, "asr_unavailable", "the ASR service is not reachable") from None

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        started = time.perf_counter()
        stream = req.bounded_stream if req.content_length is not None else req.stream
        upload = _Upload(stream, self._settings.block_bytes, req.content_length)
        answer = self._recognize(req, upload)
        recognized = time.perf_counter()
        metrics.ECHO_ASR.observe(recognized - started)
        # ASR's time, the upload included: the gateway adds it to the TTS answer's own.
        resp.set_header("Server-Timing", server_timing({"asr": 1000 * (recognized - started)}))
        if answer.status_code != 200:
            # ASR's own errors (413 too long, 422 bad parameters...) pass through unchanged.
            resp.status = falcon.code_to_http_status(answer.status_code)
            resp.content_type = answer.headers.get("Content-Type", falcon.MEDIA_JSON)
            if "Retry-After" in answer.headers:  # ASR at capacity: tell the client when to retry
                resp.set_header("Retry-After", answer.headers["Retry-After"])
            resp.data = answer.content
            return
        text = " ".join(str(answer.json().get("text", "")).split())
        if not text:
            raise api_error(falcon.HTTP_422, "no_speech", "no speech was recognized in the audio")
        _LOG.info("echo: recognized %d characters", len(text))
        query = urlencode({"text": text, "sample_rate": ECHO_SAMPLE_RATE})
        resp.set_header("X-Accel-Redirect", f"{INTERNAL_TTS_LOCATION}?{query}")
        resp.set_header("X-Recognized-Text", encode_header_text(text))
        # How long the caller has waited since its audio ended: the gateway passes it on to TTS,
        # which adds its own time to first audio (echo_voice_to_voice_seconds).
        waited = time.perf_counter() - (upload.ended_at or recognized)
        resp.set_header(ECHO_WAITED_HEADER, f"{waited:.4f}")
        resp.status = falcon.HTTP_200


class Health:
    """`/healthz`: this service. `/healthz/all`: every service of the stack (the realtime
    service and the Wyoming servers where their settings name them: a deployment may leave
    them out). A Wyoming server is asked in its own protocol: `describe`, answered by `info`."""

    def __init__(self, settings: OrchestratorSettings) -> None:
        self._upstreams = {"tts": settings.tts_url, "asr": settings.asr_url}
        if settings.realtime_url:
            self._upstreams["realtime"] = settings.realtime_url
        for name, url in (("wyoming-tts", settings.wyoming_tts_url), ("wyoming-asr", settings.wyoming_asr_url)):
            if url:
                self._upstreams[name] = url
        self._pool = ThreadPoolExecutor(max_workers=len(self._upstreams))

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok", "service": "orchestrator"}

    def on_get_all(self, req: falcon.Request, resp: falcon.Response) -> None:
        names = list(self._upstreams)
        reports = dict(zip(names, self._pool.map(self._check, names), strict=True))
        reports["orchestrator"] = {"status": "ok"}
        healthy = all(report["status"] == "ok" for report in reports.values())
        resp.status = falcon.HTTP_200 if healthy else falcon.HTTP_503
        resp.media = {"status": "ok" if healthy else "degraded", "services": reports}

    def _check(self, name: str) -> dict[str, Any]:
        if self._upstreams[name].startswith("tcp://"):
            return wyoming_probe.report(self._upstreams[name])
        try:
            answer = requests.get(f"{self._upstreams[name]}/healthz", timeout=2)
        except requests.RequestException as error:
            return {"status": "down", "error": type(error).__name__}
        try:
            report = answer.json()
        except ValueError:
            report = {}
        return {**report, "status": "ok" if answer.status_code == 200 else "unavailable"}


class DeepHealthCheck:
    """`/healthz/deep`: 200 when speech made by TTS is heard back by ASR, 503 otherwise; the
    report says what was heard and how long each step took (deep_health.py)."""

    def __init__(self, check: DeepHealth) -> None:
        self._check = check

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        verdict = self._check.verdict()
        resp.status = falcon.HTTP_200 if verdict.ok else falcon.HTTP_503
        resp.media = verdict.report(self._check.options, time.monotonic())
        resp.cache_control = ["no-store"]


def create_app(settings: OrchestratorSettings | None = None) -> falcon.App:
    configure_logging("orchestrator")
    settings = settings or OrchestratorSettings.from_env()
    _LOG.info("orchestrator: ASR at %s, TTS at %s", settings.asr_url, settings.tts_url)
    collectors = [NginxStatus(settings.nginx_status_url)] if settings.nginx_status_url else []
    app = create_service_app(metrics_collectors=collectors)
    app.add_route("/api/echo-bytes", Echo(settings))
    models = ModelList(settings)
    app.add_route("/v1/models", models)
    app.add_route("/v1/models/{model_id}", models, suffix="one")
    health = Health(settings)
    app.add_route("/healthz", health)
    app.add_route("/healthz/all", health, suffix="all")
    app.add_route(
        "/healthz/deep", DeepHealthCheck(DeepHealth(settings.tts_url, settings.asr_url, settings.deep_health))
    )
    return app
