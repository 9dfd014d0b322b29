"""Deployment files, checked without a Docker engine: what can drift silently between them.

`make test-docker` builds and runs them for real (tests/deploy/); these tests run everywhere
and catch a setting the services read but compose does not pass on, a port that is not taken
from the environment, a COPY of a missing file, or an image that installs from other
requirement files than the ones `make run` and the tests use.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bench.harness import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
COMPOSE_ONLY = yaml.safe_load((ROOT / "docker-compose.override.yml").read_text())
DOCKERFILE = ROOT / "Dockerfile"
SERVICES = ("tts", "asr", "realtime", "orchestrator", "gateway")
SERVICE_PORTS = {"tts": 8082, "asr": 8081, "realtime": 8084, "orchestrator": 8083, "gateway": 8000}
# The Wyoming servers for Home Assistant: not behind the gateway, so it does not wait for them.
WYOMING_PORTS = {"wyoming-tts": 10200, "wyoming-asr": 10300}
# Settings compose does not pass on: fixed by the images (paths, listening address and port),
# or host paths that mean nothing inside a container (the README says how to mount them).
SET_BY_THE_IMAGES = {
    "MODELS_DIR",
    "LOG_DIR",
    "HEALTH_URL",
    "WYOMING_HOST",
    "WYOMING_TTS_PORT",
    "WYOMING_ASR_PORT",
    "WYOMING_TTS_METRICS_PORT",
    "WYOMING_ASR_METRICS_PORT",
    "GATEWAY_STATUS_PORT",
} | {f"{name.upper()}_{part}" for name in SERVICES for part in ("HOST", "PORT")}
HOST_PATHS = {"WHISPER_MODEL_PATH", "VOSK_MODEL_PATH", "SILERO_MODEL_PATH", "SILERO_SHA256"}


def settings_read_by_the_code() -> set[str]:
    pattern = re.compile(r'(?:env_(?:str|int|path|pairs)|environ\.get|setting)\(\s*"([A-Z][A-Z0-9_]+)"')
    names: set[str] = set()
    for folder in ("services", "export", "nginx"):
        for source in (ROOT / folder).rglob("*.py"):
            names |= set(pattern.findall(source.read_text()))
    return names


def dockerfile_steps() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    """Each stage's steps, with those of the stage it is built FROM first."""
    stages: dict[str, list[tuple[str, str]]] = {}
    steps: list[tuple[str, str]] = []
    for instruction, arguments in dockerfile_steps():
        if instruction == "FROM":
            parent, *_, name = arguments.split()
            steps = stages[name] = list(stages.get(parent, []))
        else:
            steps.append((instruction, arguments))
    return stages


def test_compose_passes_on_every_setting_the_services_read() -> None:
    passed_on = set(COMPOSE["x-settings"])
    missing = settings_read_by_the_code() - passed_on - SET_BY_THE_IMAGES - HOST_PATHS - {"XDG_CACHE_HOME"}
    assert not missing, f"settings the code reads that docker-compose.yml does not pass on: {sorted(missing)}"
    for service in ("export", *SERVICES, *WYOMING_PORTS):
        assert COMPOSE["services"][service]["environment"] == COMPOSE["x-settings"], service


@pytest.mark.parametrize(
    ("service", "variable", "port"),
    [
        ("gateway", "GATEWAY_PORT", 8000),
        ("tts", "TTS_PORT", 8082),
        ("asr", "ASR_PORT", 8081),
        ("realtime", "REALTIME_PORT", 8084),
        ("wyoming-tts", "WYOMING_TTS_PORT", 10200),
        ("wyoming-asr", "WYOMING_ASR_PORT", 10300),
    ],
)
def test_every_published_port_comes_from_the_environment(service: str, variable: str, port: int) -> None:
    assert COMPOSE_ONLY["services"][service]["ports"] == [f"${{{variable}:-{port}}}:{port}"]
    assert variable in (ROOT / ".env.example").read_text()


def test_no_other_port_is_published() -> None:
    assert all("ports" not in spec for spec in COMPOSE["services"].values())
    published = {name for name, spec in COMPOSE_ONLY["services"].items() if "ports" in spec}
    assert published == {"gateway", "tts", "asr", "realtime", "wyoming-tts", "wyoming-asr", "prometheus"}


def test_prometheus_is_published_on_loopback_unless_asked() -> None:
    """What it holds (every service's figures and routes) is for this machine's operators."""
    assert COMPOSE_ONLY["services"]["prometheus"]["ports"] == [
        "${PROMETHEUS_HOST:-127.0.0.1}:${PROMETHEUS_PORT:-9090}:9090"
    ]
    assert "PROMETHEUS_PORT" in (ROOT / ".env.example").read_text()


def test_monitoring_is_a_compose_profile_that_scrapes_every_service_on_its_port() -> None:
    """Only in the Compose file (`docker stack deploy` refuses `profiles`), one image for both
    services, and one scrape job per service, each replica found by name."""
    assert not {"prometheus", "blackbox"} & set(COMPOSE["services"])
    for name in ("prometheus", "blackbox"):
        spec = COMPOSE_ONLY["services"][name]
        assert spec["profiles"] == ["monitoring"] and spec["networks"] == ["speech"], name
        assert spec["build"]["target"] == "monitoring"
        assert spec["image"].endswith("/monitoring:${IMAGE_TAG:-latest}")
    assert "prometheus_data:/prometheus" in COMPOSE_ONLY["services"]["prometheus"]["volumes"]
    prometheus = yaml.safe_load((ROOT / "deploy" / "monitoring" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    for service, port in SERVICE_PORTS.items():
        if service != "gateway":  # no /metrics of its own: the orchestrator reads its counters
            (lookup,) = jobs[service]["dns_sd_configs"]
            assert (lookup["names"], lookup["type"], lookup["port"]) == ([service], "A", port), service
    assert jobs["deep-health"]["static_configs"] == [
        {"targets": [f"http://gateway:{SERVICE_PORTS['gateway']}/healthz/deep"]}
    ]
    assert COMPOSE["x-settings"]["NGINX_STATUS_URL"] == "http://gateway:8079/nginx_status"


def test_every_service_image_is_a_target_of_the_one_dockerfile() -> None:
    targets = {arguments.split()[-1] for instruction, arguments in dockerfile_steps() if instruction == "FROM"}
    for name in ("export", *SERVICES, *WYOMING_PORTS):
        assert COMPOSE_ONLY["services"][name]["build"]["target"] == name
        assert name in targets
        assert COMPOSE["services"][name]["image"].endswith(f"/{name}:${{IMAGE_TAG:-latest}}")


@pytest.mark.parametrize(("service", "port"), SERVICE_PORTS.items())
def test_every_image_listens_where_its_health_check_asks_and_compose_publishes(service: str, port: int) -> None:
    """A stage built FROM another inherits its port and health check unless it sets its own."""
    steps = dockerfile_stages()[service]
    environment = dict(item.split("=", 1) for i, arguments in steps if i == "ENV" for item in arguments.split())
    assert environment[f"{service.upper()}_PORT"] == str(port)
    assert environment["HEALTH_URL"] == f"http://127.0.0.1:{port}/healthz"
    assert str(port) in " ".join(arguments for i, arguments in steps if i == "EXPOSE").split()
    assert all(published.endswith(f":{port}") for published in COMPOSE_ONLY["services"][service].get("ports", []))
    command = [arguments for i, arguments in steps if i == "CMD"][-1]
    if service != "gateway":
        assert f"services/{service}/gunicorn.conf.py" in command


@pytest.mark.parametrize(("service", "port"), WYOMING_PORTS.items())
def test_every_wyoming_image_listens_where_its_health_check_asks_and_compose_publishes(service: str, port: int) -> None:
    kind = service.removeprefix("wyoming-")
    steps = dockerfile_stages()[service]
    environment = dict(item.split("=", 1) for i, arguments in steps if i == "ENV" for item in arguments.split())
    assert environment["WYOMING_HOST"] == "0.0.0.0"
    assert environment["HEALTH_URL"] == f"tcp://127.0.0.1:{port}"  # the probe's address: describe, info
    health_check = [arguments for i, arguments in steps if i == "HEALTHCHECK"][-1]
    assert health_check.endswith('["python", "-m", "services.wyoming.probe", "--timeout", "4"]')
    assert str(port) in [arguments for i, arguments in steps if i == "EXPOSE"][-1].split()
    assert COMPOSE_ONLY["services"][service]["ports"] == [f"${{WYOMING_{kind.upper()}_PORT:-{port}}}:{port}"]
    assert [arguments for i, arguments in steps if i == "CMD"][-1] == f'["python", "-m", "services.wyoming", "{kind}"]'
    assert COMPOSE["x-settings"][f"WYOMING_{kind.upper()}_URL"] == f"tcp://{service}:{port}"  # for /healthz


@pytest.mark.parametrize(
    ("service", "models"), [("tts", "tts"), ("asr", "asr"), ("realtime", "asr"), ("wyoming-asr", "asr")]
)
def test_services_read_their_engines_models_read_only(service: str, models: str) -> None:
    assert f"models_{models}:/models/{models}:ro" in COMPOSE["services"][service]["volumes"]
    assert "speech_logs:/logs" in COMPOSE["services"][service]["volumes"]


def test_the_gateway_starts_once_every_service_is_healthy() -> None:
    waits_for = COMPOSE_ONLY["services"]["gateway"]["depends_on"]
    assert waits_for == {name: {"condition": "service_healthy"} for name in SERVICES if name != "gateway"}


def test_every_copy_source_exists_and_no_weights_are_copied() -> None:
    for instruction, arguments in dockerfile_steps():
        if instruction == "COPY" and not arguments.startswith("--from="):
            *sources, _ = arguments.split()
            for source in sources:
                assert (ROOT / source).exists(), source
                assert Path(source).parts[0] != "models", source


def test_images_install_from_the_tested_requirement_files() -> None:
    runs = " ".join(arguments for instruction, arguments in dockerfile_steps() if instruction == "RUN")
    installed = set(re.findall(r"-r (\S+)", runs))
    makefile = (ROOT / "Makefile").read_text()
    assert {"services/tts/requirements.txt", "services/asr/requirements.txt", "export/requirements.txt"} <= installed
    for requirements in installed:
        assert (ROOT / requirements).is_file()
        assert requirements in makefile, f"{requirements} is not what `make run` installs"
