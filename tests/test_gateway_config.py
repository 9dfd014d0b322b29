"""The gateway's configuration as nginx/render.py writes it, in both ways of reaching services.

Checked with nginx itself (`nginx -t`). Fixed addresses (make run, compose, Kubernetes) get
upstream groups with keep-alive; with GATEWAY_RESOLVER (Swarm) the names are resolved per
request, which tests/deploy/test_swarm.py exercises on a real swarm.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.harness import ROOT, nginx_binary

SERVICES = {
    "TTS_SERVICE_URL": "http://tts:8082",
    "ASR_SERVICE_URL": "http://asr:8081",
    "REALTIME_SERVICE_URL": "http://realtime:8084",
    "ORCHESTRATOR_URL": "http://orchestrator:8083",
}


def render(tmp_path: Path, listen: str = "127.0.0.1", **settings: str) -> str:
    config = tmp_path / "nginx.conf"
    command = [sys.executable, str(ROOT / "nginx" / "render.py"), "--output", str(config), "--listen", listen]
    command += ["--run-dir", str(tmp_path), "--log-dir", str(tmp_path / "logs")]
    subprocess.run(command, env={**os.environ, **settings}, check=True)
    return config.read_text()


def nginx_accepts(tmp_path: Path) -> subprocess.CompletedProcess:
    command = [nginx_binary(), "-t", "-c", str(tmp_path / "nginx.conf"), "-e", str(tmp_path / "error.log")]
    return subprocess.run(command, check=False, capture_output=True, text=True)


def test_fixed_addresses_get_upstream_groups_with_keepalive(tmp_path: Path) -> None:
    text = render(tmp_path, TTS_SERVICE_URL="http://127.0.0.1:8082", ASR_SERVICE_URL="http://127.0.0.1:8081")
    assert re.search(r"upstream tts \{\s*server 127\.0\.0\.1:8082;\s*keepalive 16;", text)
    assert 'map "" $tts_service { default tts; }' in text and "resolver" not in text
    result = nginx_accepts(tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("listen", ["127.0.0.1", "0.0.0.0"])
def test_the_gateway_listens_where_it_is_told(tmp_path: Path, listen: str) -> None:
    assert f"listen {listen}:8000 sndbuf=128k;" in render(tmp_path, listen, GATEWAY_PORT="8000")


def test_with_a_resolver_service_names_are_resolved_per_request(tmp_path: Path) -> None:
    text = render(tmp_path, GATEWAY_RESOLVER="127.0.0.11", **SERVICES)
    assert not re.search(r"^\s*upstream \w+ \{", text, re.MULTILINE)  # a group would be resolved once, at start
    assert "resolver 127.0.0.11 valid=1s ipv6=off;" in text
    assert 'map "" $tts_service { default tts:8082; }' in text
    assert 'map "" $orchestrator_service { default orchestrator:8083; }' in text
    assert 'map "" $realtime_service { default realtime:8084; }' in text
    # nginx accepts names it cannot resolve yet: no replica needs to exist when it starts.
    result = nginx_accepts(tmp_path)
    assert result.returncode == 0, result.stderr


def test_the_websocket_is_upgraded_through_to_the_realtime_service(tmp_path: Path) -> None:
    text = render(tmp_path, REALTIME_SERVICE_URL="http://127.0.0.1:8084")
    assert re.search(r"upstream realtime \{\s*server 127\.0\.0\.1:8084;", text)
    assert re.search(r"map \$http_upgrade \$connection_upgrade \{\s*default upgrade;\s*''\s+close;\s*\}", text)
    location = re.search(r"location = /api/stt/ws \{(.*?)\}", text, re.DOTALL)
    assert location, "no location for /api/stt/ws"
    body = location.group(1)
    for line in (
        "proxy_pass http://$realtime_service;",
        "proxy_http_version 1.1;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        # A location's own headers replace the server's: the others must be repeated.
        "proxy_set_header Host $host;",
        "proxy_buffering off;",
    ):
        assert line in body, line
    # Sessions last long; the service ends idle ones itself.
    assert int(re.search(r"proxy_read_timeout (\d+)s;", body).group(1)) >= 3600
    result = nginx_accepts(tmp_path)
    assert result.returncode == 0, result.stderr
