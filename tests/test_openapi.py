"""The API's description (docs/openapi.json): valid OpenAPI 3.1, true to the code's limits, served
by the gateway with a reference page that loads nothing from elsewhere, and matched by what the
running services answer, errors included. `make fuzz` then sends it thousands of generated
requests (tests/fuzz/)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests
import schemathesis
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bench.harness import ROOT, Gateway
from services.asr.audio_input import ALLOWED_CHANNELS, SAMPLE_FORMATS
from services.asr.audio_input import ALLOWED_SAMPLE_RATES as UPLOAD_SAMPLE_RATES
from services.asr.openai_transcription import GRANULARITIES
from services.asr.openai_transcription import RESPONSE_FORMATS as TRANSCRIPT_FORMATS
from services.tts.openai_speech import MAX_INPUT_CHARS, RESPONSE_FORMATS, STREAM_FORMATS
from services.tts.settings import ALLOWED_SAMPLE_RATES, MAX_SPEED, MIN_SPEED, TtsSettings
from tests.conftest import wav_bytes

DESCRIPTION_PATH = ROOT / "docs" / "openapi.json"
DESCRIPTION = json.loads(DESCRIPTION_PATH.read_text())
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
OPERATIONS = {
    (method.upper(), path) for path, item in DESCRIPTION["paths"].items() for method in item if method in METHODS
}
CHECKS = [status_code_conformance, content_type_conformance, response_headers_conformance, response_schema_conformance]
SENTENCE = "Hello world, this is a test of the description."


def schema_of(name: str) -> dict[str, Any]:
    return DESCRIPTION["components"]["schemas"][name]


def parameter(name: str) -> dict[str, Any]:
    return DESCRIPTION["components"]["parameters"][name]["schema"]


def test_the_description_is_valid_openapi_3_1() -> None:
    assert DESCRIPTION["openapi"].startswith("3.1.")
    validate(DESCRIPTION)  # raises on any error against the OpenAPI 3.1 schema


def test_every_route_the_gateway_reaches_is_described() -> None:
    """Each route a service adds under /api/ or /v1/ is a path of the description."""
    routes = set()
    for source in (ROOT / "services").rglob("*.py"):
        text = source.read_text()
        routes |= set(re.findall(r'add_route\(\s*"(/(?:api|v1)/[^"]*)"', text))
        routes |= set(re.findall(r'^WS_PATH = "(/api/[^"]*)"', text, re.MULTILINE))
    assert {"/api/tts", "/api/stt/bytes", "/api/stt/ws", "/v1/models/{model_id}"} <= routes  # the search works
    assert routes <= set(DESCRIPTION["paths"]), routes - set(DESCRIPTION["paths"])


def test_the_limits_and_choices_are_the_code_s_own() -> None:
    speech = schema_of("SpeechRequest")["properties"]
    assert speech["text"]["maxLength"] == TtsSettings.from_env().max_text_chars == 5000
    assert parameter("TextQuery")["maxLength"] == 5000
    assert (speech["speed"]["minimum"], speech["speed"]["maximum"]) == (MIN_SPEED, MAX_SPEED)
    assert schema_of("OutputSampleRate")["enum"] == list(ALLOWED_SAMPLE_RATES)
    assert parameter("SampleRate")["enum"] == list(UPLOAD_SAMPLE_RATES)
    assert parameter("Channels")["enum"] == list(ALLOWED_CHANNELS)
    assert parameter("SampleFormat")["enum"] == list(SAMPLE_FORMATS)
    openai_speech = schema_of("OpenAISpeechRequest")["properties"]
    assert openai_speech["input"]["maxLength"] == MAX_INPUT_CHARS
    assert openai_speech["response_format"]["enum"] == list(RESPONSE_FORMATS)
    assert openai_speech["stream_format"]["enum"] == list(STREAM_FORMATS)
    form = schema_of("TranscriptionForm")["properties"]
    assert set(form["response_format"]["enum"]) == set(TRANSCRIPT_FORMATS)
    assert set(form["timestamp_granularities[]"]["items"]["enum"]) == set(GRANULARITIES)


class _References(HTMLParser):
    """Every URL a page refers to (src, href)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def test_the_gateway_serves_the_description_and_a_reference_page_of_its_own(gateway: Gateway) -> None:
    served = requests.get(f"{gateway.url}/openapi.json", timeout=10)
    assert served.status_code == 200 and served.headers["Content-Type"] == "application/json"
    assert served.json() == DESCRIPTION

    redirect = requests.get(f"{gateway.url}/docs", allow_redirects=False, timeout=10)
    assert redirect.status_code == 301 and redirect.headers["Location"] == "/docs/"  # whatever port it is behind
    page = requests.get(f"{gateway.url}/docs/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self';" in policy
    assert "http" not in policy and "*" not in policy and "unsafe" not in policy  # no other site, no inline code

    references = _References()
    references.feed(page.text)
    assert {"swagger-ui.css", "swagger-ui-bundle.js", "reference.js"} <= set(references.urls)
    media_types = {".css": "text/css", ".js": "application/javascript"}
    for reference in references.urls:
        url = urljoin(f"{gateway.url}/docs/", reference)
        assert urlsplit(url).netloc == urlsplit(gateway.url).netloc, reference  # the gateway's own
        asset = requests.get(url, timeout=10)
        assert asset.status_code == 200, reference
        assert asset.headers["Content-Type"] == media_types[Path(reference).suffix], reference
    script = requests.get(f"{gateway.url}/docs/reference.js", timeout=10).text
    assert "../openapi.json" in script and not re.search(r"https?:", script)


@dataclass(frozen=True)
class Call:
    """A real request, the answer it must get, and the operation of the description it is."""

    method: str
    path: str  # as the description names it
    status: int
    code: str | None = None  # the error's code, for an error
    url: str = ""  # what is sent, when not `path` itself
    send: dict[str, Any] = field(default_factory=dict)  # requests' arguments; "@name": a recording

    def __str__(self) -> str:
        sent = self.url or self.path
        sent = sent if len(sent) <= 60 else f"{sent[:50]}...({len(sent)})"
        return f"{self.method} {sent} -> {self.status} {self.code or ''}".strip()


TEXT = {"text": SENTENCE}
SPEECH = {"input": SENTENCE}
FORM = {"files": {"file": ("speech", "@wav")}}
CALLS = [
    # Text to speech, native API.
    Call("POST", "/api/tts", 200, send={"json": TEXT}),
    Call("POST", "/api/tts/wav", 200, send={"json": {**TEXT, "sample_rate": 24000, "speed": 1.5}}),
    Call("GET", "/api/tts", 200, url="/api/tts?text=Hello.&voice=&sample_rate=8000"),
    Call("GET", "/api/tts/wav", 200, url="/api/tts/wav?text=Hello."),
    Call("GET", "/api/tts", 400, "missing_text", url="/api/tts?voice=x"),
    Call(
        "POST", "/api/tts", 400, "malformed_json", send={"data": b"{", "headers": {"Content-Type": "application/json"}}
    ),
    Call("POST", "/api/tts", 400, "invalid_body", send={"json": ["Hello"]}),
    Call("POST", "/api/tts", 400, "missing_text", send={"json": {"voice": None}}),
    Call("POST", "/api/tts", 404, "unknown_voice", send={"json": {**TEXT, "voice": "nobody"}}),
    Call("POST", "/api/tts", 413, "text_too_long", send={"json": {"text": "a" * 5001}}),
    Call("POST", "/api/tts", 413, "body_too_large", send={"json": {"text": "a", "pad": "b" * 70_000}}),
    Call("POST", "/api/tts/wav", 413, "body_too_large", send={"json": {"text": "a", "pad": "b" * 1_100_000}}),
    Call("GET", "/api/tts", 414, "uri_too_long", url="/api/tts?text=" + "a" * 9000),
    Call("POST", "/api/tts", 415, "unsupported_media_type", send={"data": SENTENCE}),
    Call("POST", "/api/tts", 422, "empty_text", send={"json": {"text": " \n"}}),
    Call("POST", "/api/tts", 422, "invalid_text", send={"json": {"text": 5}}),
    Call("POST", "/api/tts", 422, "invalid_speed", send={"json": {**TEXT, "speed": 9}}),
    Call("POST", "/api/tts/wav", 422, "invalid_sample_rate", send={"json": {**TEXT, "sample_rate": 1234}}),
    Call("GET", "/api/tts", 422, "nothing_to_say", url="/api/tts?text=%F0%9F%99%82"),
    Call("POST", "/api/tts", 431, "header_too_large", send={"json": TEXT, "headers": {"X-Big": "a" * 40_000}}),
    Call("GET", "/api/voices", 200),
    # Speech to text, native API.
    Call("POST", "/api/stt/bytes", 200, send={"data": "@pcm"}),
    Call("POST", "/api/stt/bytes", 200, url="/api/stt/bytes?lang=en-US", send={"data": "@wav"}),
    Call("POST", "/api/stt/bytes", 200, send={"data": "@mp3", "headers": {"Content-Type": "audio/mpeg"}}),
    Call("POST", "/api/stt/bytes", 400, "invalid_audio", send={"data": b""}),
    Call("POST", "/api/stt/bytes", 400, "invalid_audio", send={"data": b"\x00\x01\x02"}),
    Call("POST", "/api/stt/bytes", 400, "invalid_audio", send={"data": b"RIFF\0\0\0\0WAVEfmt " + bytes(40)}),
    Call("POST", "/api/stt/bytes", 413, "audio_too_long", send={"data": bytes(32000 * 16)}),
    Call("POST", "/api/stt/bytes", 422, "invalid_sr", url="/api/stt/bytes?sr=12345", send={"data": "@pcm"}),
    Call("POST", "/api/stt/bytes", 422, "invalid_fmt", url="/api/stt/bytes?fmt=u8", send={"data": "@pcm"}),
    Call("POST", "/api/stt/bytes", 422, "unsupported_language", url="/api/stt/bytes?lang=fr", send={"data": "@pcm"}),
    Call("GET", "/api/stt/models", 200),
    Call("GET", "/api/stt/ws", 426, "upgrade_required"),
    # Echo.
    Call("POST", "/api/echo-bytes", 200, send={"data": "@pcm"}),
    Call("POST", "/api/echo-bytes", 422, "no_speech", send={"data": bytes(32000)}),
    Call("POST", "/api/echo-bytes", 422, "invalid_ch", url="/api/echo-bytes?ch=3", send={"data": "@pcm"}),
    # OpenAI's API.
    *[
        Call("POST", "/v1/audio/speech", 200, send={"json": {**SPEECH, "response_format": audio_format}})
        for audio_format in RESPONSE_FORMATS
    ],
    Call("POST", "/v1/audio/speech", 200, send={"json": {**SPEECH, "voice": {"id": "nova"}, "stream_format": "sse"}}),
    Call("POST", "/v1/audio/speech", 400, "missing_input", send={"json": {"voice": "alloy"}}),
    Call("POST", "/v1/audio/speech", 400, "invalid_voice", send={"json": {**SPEECH, "voice": {"id": ""}}}),
    Call("POST", "/v1/audio/speech", 400, "unknown_voice", send={"json": {**SPEECH, "voice": "nobody"}}),
    Call(
        "POST", "/v1/audio/speech", 400, "invalid_response_format", send={"json": {**SPEECH, "response_format": "ogg"}}
    ),
    Call("POST", "/v1/audio/speech", 400, "text_too_long", send={"json": {"input": "a" * 4097}}),
    Call("POST", "/v1/audio/speech", 400, "unsupported_media_type", send={"data": SENTENCE}),
    Call("POST", "/v1/audio/speech", 413, "body_too_large", send={"json": {**SPEECH, "pad": "b" * 1_100_000}}),
    Call("GET", "/v1/audio/voices", 200),
    Call("GET", "/v1/audio/voices", 431, "header_too_large", send={"headers": {"X-Big": "a" * 40_000}}),
    Call("GET", "/v1/audio/models", 200),
    *[
        Call("POST", "/v1/audio/transcriptions", 200, send={**FORM, "data": {"response_format": transcript_format}})
        for transcript_format in TRANSCRIPT_FORMATS
    ],
    Call(
        "POST",
        "/v1/audio/transcriptions",
        200,
        send={**FORM, "data": {"response_format": "verbose_json", "timestamp_granularities[]": ["word", "segment"]}},
    ),
    Call("POST", "/v1/audio/transcriptions", 200, send={**FORM, "data": {"stream": "true"}}),
    Call("POST", "/v1/audio/transcriptions", 400, "missing_file", send={"files": {"model": (None, "whisper-1")}}),
    Call("POST", "/v1/audio/transcriptions", 400, "invalid_audio", send={"files": {"file": ("a.mp3", b"ID3 no")}}),
    Call("POST", "/v1/audio/transcriptions", 400, "invalid_temperature", send={**FORM, "data": {"temperature": "2"}}),
    Call("POST", "/v1/audio/transcriptions", 400, "unsupported_language", send={**FORM, "data": {"language": "fr"}}),
    Call("POST", "/v1/audio/transcriptions", 400, "unsupported_media_type", send={"data": "@wav"}),
    Call("POST", "/v1/audio/translations", 400, "translation_unavailable", send=FORM),
    Call("GET", "/v1/models", 200),
    Call("GET", "/v1/models/{model_id}", 200, url="/v1/models/whisper-tiny.en"),
    Call("GET", "/v1/models/{model_id}", 404, "model_not_found", url="/v1/models/nobody"),
    Call("GET", "/v1/models/{model_id}", 414, "uri_too_long", url="/v1/models/" + "a" * 9000),
    # The gateway's own.
    Call("GET", "/healthz", 200),
    Call("GET", "/healthz/deep", 200),
    Call("GET", "/openapi.json", 200),
    Call("GET", "/docs/", 200),
]


def test_every_operation_is_called_for_real() -> None:
    assert {(call.method, call.path) for call in CALLS} == OPERATIONS


@pytest.fixture(scope="module")
def description() -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_path(DESCRIPTION_PATH)


@pytest.fixture(scope="module")
def recordings(gateway: Gateway) -> dict[str, bytes]:
    """A sentence spoken by the stack, as uploads carry it."""

    def speak(path: str, body: dict[str, Any]) -> bytes:
        response = requests.post(f"{gateway.url}{path}", json=body, timeout=60)
        assert response.status_code == 200
        return response.content

    pcm = speak("/api/tts", TEXT)
    return {"pcm": pcm, "wav": wav_bytes(pcm, 16000), "mp3": speak("/v1/audio/speech", SPEECH)}


def sent(value: Any, recordings: dict[str, bytes]) -> Any:
    """`value` with each "@name" replaced by that recording."""
    if isinstance(value, str) and value.startswith("@"):
        return recordings[value[1:]]
    if isinstance(value, dict):
        return {key: sent(item, recordings) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(sent(item, recordings) for item in value)
    return value


def conforms(description: schemathesis.BaseSchema, call: Call, response: requests.Response) -> None:
    """The response is one the description gives for the operation: its status, its media type,
    its headers, and its body against the schema (each event's, for server-sent events)."""
    template = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/?]+)", re.escape(call.path))
    parameters = re.match(template, urlsplit(response.request.url).path)
    assert parameters is not None, (call.path, response.request.url)
    case = description[call.path][call.method].Case(path_parameters=parameters.groupdict())
    case.validate_response(response, checks=CHECKS)


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_the_services_answer_as_described(
    gateway: Gateway, description: schemathesis.BaseSchema, recordings: dict[str, bytes], call: Call
) -> None:
    response = requests.request(
        call.method, f"{gateway.url}{call.url or call.path}", timeout=120, **sent(call.send, recordings)
    )
    assert response.status_code == call.status, response.text[:500]
    if call.code:
        assert response.json()["error"]["code"] == call.code
    conforms(description, call, response)


OPEN = {("GET", "/v1/audio/voices"), ("GET", "/v1/audio/models"), ("GET", "/healthz"), ("GET", "/openapi.json")}
OPEN |= {("GET", "/docs/"), ("GET", "/api/stt/ws"), ("GET", "/healthz/deep")}


def test_with_api_keys_every_protected_operation_answers_401_as_described(
    keyed_gateway: Gateway, description: schemathesis.BaseSchema
) -> None:
    for method, path in sorted(OPERATIONS - OPEN):
        url = path.replace("{model_id}", "whisper-tiny.en")
        response = requests.request(method, f"{keyed_gateway.url}{url}", data=b"x" * 100_000, timeout=30)
        assert response.status_code == 401, (method, path, response.text[:300])
        assert response.json()["error"]["code"] == "invalid_api_key"
        assert response.headers["WWW-Authenticate"] == "Bearer"
        conforms(description, Call(method, path, 401), response)
        security = DESCRIPTION["paths"][path][method.lower()].get("security", DESCRIPTION["security"])
        assert {"apiKey": []} in security, (method, path)
    for method, path in sorted(OPEN - {("GET", "/api/stt/ws")}):
        response = requests.request(method, f"{keyed_gateway.url}{path}", timeout=30)
        assert response.status_code == 200, (method, path)
        assert DESCRIPTION["paths"][path][method.lower()]["security"] == [{}]
