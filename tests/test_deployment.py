"""Docker deployment files, checked without a Docker engine: structure, references, requirements.

Images cannot be built here (no engine); these tests check what can go wrong silently: a
build context or Dockerfile that does not exist, a COPY of a missing file, an image that
installs from other requirement files than the ones `make run` and the tests use, a volume,
port or health check that is not declared.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from clients.harness import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
BUILT_SERVICES = {name: spec for name, spec in COMPOSE["services"].items() if "build" in spec}


def dockerfile_of(spec: dict) -> Path:
    return ROOT / spec["build"]["context"] / spec["build"]["dockerfile"]


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_compose_declares_the_services_volumes_and_export_profile() -> None:
    assert {"gateway", "tts", "asr", "orchestrator", "export"} <= set(COMPOSE["services"])
    assert {"models_tts", "models_asr", "speech_logs"} <= set(COMPOSE["volumes"])
    export = COMPOSE["services"]["export"]
    assert export["profiles"] == ["export"]
    assert {"models_tts:/models/tts", "models_asr:/models/asr"} <= set(export["volumes"])


@pytest.mark.parametrize(("name", "port", "volume"), [("tts", 8082, "models_tts"), ("asr", 8081, "models_asr")])
def test_services_publish_their_port_mount_their_models_and_check_health(name: str, port: int, volume: str) -> None:
    service = COMPOSE["services"][name]
    assert f"{port}:{port}" in service["ports"]
    assert f"{volume}:/models/{name}:ro" in service["volumes"]
    assert f"http://127.0.0.1:{port}/healthz" in service["healthcheck"]["test"]
    assert "speech_logs:/logs" in service["volumes"]


def test_gateway_publishes_gateway_port_and_waits_for_healthy_services() -> None:
    gateway = COMPOSE["services"]["gateway"]
    assert gateway["ports"] == ["${GATEWAY_PORT:-8000}:8000"]
    assert gateway["depends_on"] == {name: {"condition": "service_healthy"} for name in ("tts", "asr", "orchestrator")}
    assert "healthz" in " ".join(gateway["healthcheck"]["test"])
    assert "speech_logs:/logs" in gateway["volumes"]
    orchestrator = COMPOSE["services"]["orchestrator"]
    assert "healthz" in " ".join(orchestrator["healthcheck"]["test"])


def test_every_service_shares_one_network() -> None:
    running = [spec for name, spec in COMPOSE["services"].items() if name != "export"]
    assert all(spec["networks"] == ["speech"] for spec in running)


@pytest.mark.parametrize("name", sorted(BUILT_SERVICES))
def test_every_copy_source_exists(name: str) -> None:
    dockerfile = dockerfile_of(BUILT_SERVICES[name])
    assert dockerfile.is_file()
    steps = instructions(dockerfile)
    assert steps[0] == ("FROM", "python:3.11-slim")
    for instruction, arguments in steps:
        if instruction == "COPY":
            *sources, _ = arguments.split()
            for source in sources:
                assert (ROOT / BUILT_SERVICES[name]["build"]["context"] / source).exists(), source


@pytest.mark.parametrize("name", sorted(BUILT_SERVICES))
def test_images_install_from_the_tested_requirement_files(name: str) -> None:
    runs = " ".join(
        arguments
        for instruction, arguments in instructions(dockerfile_of(BUILT_SERVICES[name]))
        if instruction == "RUN"
    )
    installed = set(re.findall(r"-r (\S+)", runs))
    if name == "gateway":
        assert not installed and "apt-get install" in runs and "nginx" in runs  # nginx + Python's stdlib
        return
    assert installed, "the image installs no requirement file"
    makefile = (ROOT / "Makefile").read_text()
    for requirements in installed:
        assert (ROOT / requirements).is_file()
        assert requirements in makefile, f"{requirements} is not what `make run` installs"


def test_images_carry_no_model_weights() -> None:
    for spec in BUILT_SERVICES.values():
        for instruction, arguments in instructions(dockerfile_of(spec)):
            if instruction == "COPY":
                assert "models" not in arguments.split()[0], arguments
