"""The Makefile's settings: where each comes from, as docker compose has it, and what the
gunicorn masters it starts share."""

from __future__ import annotations

import runpy
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

SERVICES = ("tts", "asr", "realtime", "orchestrator")


def make_value(directory: Path, name: str, *args: str, env: dict[str, str] | None = None) -> str:
    """`name` as the Makefile in `directory` sees it, and as it exports it to the services."""
    printer = f'print-setting: ; @echo "$({name}) $${{{name}}}"'
    result = subprocess.run(
        ["make", "-s", "--eval", printer, "print-setting", *args],
        cwd=directory,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    made, exported = result.stdout.split()
    assert made == exported, result.stdout  # what make uses is what the services get
    return made


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    return tmp_path


def test_the_environment_and_the_command_line_win_over_dotenv_which_wins_over_defaults(project: Path) -> None:
    assert make_value(project, "GATEWAY_PORT") == "8000"
    (project / ".env").write_text('# ports\nGATEWAY_PORT=9100\nexport TTS_PORT = "9182"\n')
    assert make_value(project, "GATEWAY_PORT") == "9100"
    assert make_value(project, "TTS_PORT") == "9182"
    assert make_value(project, "GATEWAY_PORT", env={"GATEWAY_PORT": "9000"}) == "9000"
    assert make_value(project, "GATEWAY_PORT", "GATEWAY_PORT=9001", env={"GATEWAY_PORT": "9000"}) == "9001"


@pytest.mark.parametrize("service", SERVICES)
def test_no_gunicorn_master_opens_the_shared_control_socket(service: str) -> None:
    settings = runpy.run_path(str(ROOT / "services" / service / "gunicorn.conf.py"))
    assert settings["control_socket_disable"] is True
