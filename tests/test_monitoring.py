"""The compose stack's `monitoring` profile: Prometheus scrapes every service and the deep health
check, loads the alerts, and can answer every query of the Grafana dashboard.

Against Prometheus under `make test-docker` only (TEST_STACK=compose): the compose stack is
started with the profile (tests/deploy/stacks.py), and Prometheus is read through its HTTP API
on its published port. Run first among the compose tests, on a fresh stack: no earlier test's
load is in the figures. The dashboard's own shape is checked everywhere.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import yaml

from bench.harness import ROOT
from services.tts.text.normalize import normalize_text
from tests.conftest import stack_under_test
from tests.deploy.docker import ComposeProject

MONITORING = ROOT / "deploy" / "monitoring"
SCRAPED_SERVICES = {
    "tts": 8082,
    "asr": 8081,
    "realtime": 8084,
    "orchestrator": 8083,
    "wyoming-tts": 10201,
    "wyoming-asr": 10301,
}
DEEP_HEALTH_JOB = "deep-health"
# Prometheus scrapes every 5 s and probes the deep check every 15 s; a first deep check on a
# fresh stack loads both models' first requests.
READY_WITHIN = 90.0
SCRAPED_WITHIN = 30.0
# Alerts a healthy, idle stack may show as firing (none: alerts.yml says so).
EXPECTED_FIRING: set[str] = set()
# What the dashboard's variables stand for when Grafana sends its queries.
DASHBOARD_VARIABLES = {"$__rate_interval": "1m", "$__range": "5m", "${datasource}": "prometheus"}
# Series Prometheus makes itself for every target, which no target describes.
SYNTHETIC_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added"}
SPOKEN = (
    "Prometheus counts every character of this sentence.",
    "A second sentence, for the counters.",
    "And a third one to finish.",
)


@dataclass
class Prometheus:
    url: str

    def api(self, path: str, **params: str) -> Any:
        """The `data` of a successful answer of the HTTP API; an error says what Prometheus said."""
        response = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=30)
        answer = response.json()
        assert response.status_code == 200 and answer["status"] == "success", (path, params, answer)
        return answer["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        data = self.api("query", query=promql)
        assert data["resultType"] == "vector", (promql, data)
        return data["result"]

    def value(self, promql: str) -> float:
        """The one value of a query such as `sum(...)`; 0 when no series matches yet."""
        result = self.query(promql)
        assert len(result) <= 1, (promql, result)
        return float(result[0]["value"][1]) if result else 0.0


def wait_for(what: str, condition: Callable[[], Any], timeout: float, state: Callable[[], Any] | None = None) -> Any:
    """`condition()` once it is true, polled every second; on timeout, what `state()` says then
    (or the condition's last outcome)."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = condition()
        if outcome:
            return outcome
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s (last: {state() if state else outcome!r})")
        time.sleep(1)


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> ComposeProject:
    """The compose stack, under `make test-docker` only: elsewhere no stack is started for these."""
    if stack_under_test() != "compose":
        pytest.skip("the monitoring profile is tested on the compose stack (make test-docker)")
    return request.getfixturevalue("compose_stack")


@pytest.fixture(scope="module")
def prometheus(stack: ComposeProject) -> Prometheus:
    """Prometheus once every service's replica is up as a target and the deep probe passes."""
    server = Prometheus(stack.prometheus_url)

    def state() -> dict[str, Any]:
        targets = server.api("targets", state="active")["activeTargets"]
        health = {job: [t["health"] for t in targets if t["labels"]["job"] == job] for job in SCRAPED_SERVICES}
        deep = server.query(f'probe_success{{job="{DEEP_HEALTH_JOB}"}}')
        return {**health, "probe_success": [series["value"][1] for series in deep]}

    def ready() -> bool:
        now = state()
        return all("up" in now[job] for job in SCRAPED_SERVICES) and now["probe_success"] == ["1"]

    wait_for("every service up as a target and the deep health probe passing", ready, READY_WITHIN, state)
    return server


def test_every_service_is_scraped_on_its_port_and_the_gateway_is_probed(prometheus: Prometheus) -> None:
    targets = prometheus.api("targets", state="active")["activeTargets"]
    for job, port in SCRAPED_SERVICES.items():
        scraped = [target for target in targets if target["labels"]["job"] == job]
        # One target per replica, found by name: its address on the stack's network, its port.
        assert len(scraped) == 1, (job, scraped)
        assert re.fullmatch(rf"\d+\.\d+\.\d+\.\d+:{port}", scraped[0]["labels"]["instance"]), scraped[0]
        assert scraped[0]["scrapeUrl"].endswith(f":{port}/metrics") and scraped[0]["health"] == "up"
    (deep,) = [target for target in targets if target["labels"]["job"] == DEEP_HEALTH_JOB]
    assert deep["labels"]["instance"] == "http://gateway:8000/healthz/deep"
    assert deep["scrapeUrl"].startswith("http://blackbox:9115/probe?")
    duration = prometheus.value(f'probe_duration_seconds{{job="{DEEP_HEALTH_JOB}"}}')
    assert 0 < duration < 15


def test_each_replica_of_a_scaled_service_is_a_target_of_its_own(stack: ComposeProject, prometheus: Prometheus) -> None:
    """The orchestrator publishes no port, so a second replica can start beside the first."""

    def orchestrators_up(count: int) -> Callable[[], list[str] | None]:
        def check() -> list[str] | None:
            targets = prometheus.api("targets", state="active")["activeTargets"]
            mine = [t["labels"]["instance"] for t in targets if t["labels"]["job"] == "orchestrator"]
            healthy = [t for t in targets if t["labels"]["job"] == "orchestrator" and t["health"] == "up"]
            return mine if len(mine) == len(healthy) == count else None

        return check

    scale = ["up", "--detach", "--no-deps", "--wait", "--wait-timeout", "180", "--scale"]
    stack.compose(*scale, "orchestrator=2", "orchestrator", timeout=240)
    try:
        instances = wait_for("two orchestrator targets up", orchestrators_up(2), SCRAPED_WITHIN)
        assert len(set(instances)) == 2, instances
        # Each replica's own series, one per instance: the scrapes each one has answered.
        scrapes = 'sum by (instance) (http_requests_total{job="orchestrator", route="/metrics"})'

        def counted_apart() -> bool:
            return {series["metric"]["instance"] for series in prometheus.query(scrapes)} == set(instances)

        wait_for("each orchestrator replica's scrapes counted apart", counted_apart, SCRAPED_WITHIN)
    finally:
        stack.compose(*scale, "orchestrator=1", "orchestrator", timeout=240)
    wait_for("one orchestrator target left", orchestrators_up(1), SCRAPED_WITHIN + 15)
    stack.container("orchestrator")  # exactly one left, as the tests after this one expect


def test_traffic_through_the_gateway_is_counted(stack: ComposeProject, prometheus: Prometheus) -> None:
    """The deep health probe speaks and listens as well, every 15 s: counts rise by at least what
    the test sent."""
    counters = {
        "characters": "sum(tts_characters_total)",
        "tts requests": 'sum(http_requests_total{job="tts", route="/api/tts", method="POST", status="200"})',
        "asr requests": 'sum(http_requests_total{job="asr", route="/api/stt/bytes", method="POST", status="200"})',
        "asr upload seconds": 'sum(asr_audio_seconds_total{mode="upload"})',
        "tts audio seconds": "sum(tts_audio_seconds_total)",
    }
    before = {name: prometheus.value(promql) for name, promql in counters.items()}
    pcm = b""
    for text in SPOKEN:
        pcm = stack.speak(text)
        assert len(pcm) > 16000, text  # half a second of 16 kHz, 16-bit speech at least
    heard = requests.post(f"{stack.gateway_url}/api/stt/bytes?sr=16000&ch=1&fmt=s16le", data=pcm, timeout=60)
    assert heard.status_code == 200, heard.text
    upload_seconds = len(pcm) / 2 / 16000
    expected = {
        "characters": sum(len(normalize_text(text)) for text in SPOKEN),
        "tts requests": len(SPOKEN),
        "asr requests": 1,
        "asr upload seconds": upload_seconds * 0.95,  # the decoder may drop a partial frame at the end
        "tts audio seconds": upload_seconds * 0.95,  # the last sentence alone
    }

    def risen() -> dict[str, float] | None:
        rise = {name: prometheus.value(promql) - before[name] for name, promql in counters.items()}
        return rise if all(rise[name] >= expected[name] for name in counters) else None

    rise = wait_for(f"counters to rise by {expected}", risen, SCRAPED_WITHIN)
    # The TTS panel of the dashboard has a series for the voice just heard.
    first_audio = prometheus.query(
        "histogram_quantile(0.95, sum by (voice, le) (rate(tts_first_audio_seconds_bucket[1m])))"
    )
    assert first_audio and all(0 < float(series["value"][1]) < 5 for series in first_audio), (rise, first_audio)


def test_every_alert_rule_is_loaded_and_none_fires_on_a_healthy_stack(prometheus: Prometheus) -> None:
    rules_file = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    written = {rule["alert"]: rule for group in rules_file["groups"] for rule in group["rules"]}
    assert {"TTSFirstAudioSlow", "TTSRefusing", "ASRRefusing", "DeepHealthFailing", "ScrapeTargetDown"} <= set(written)
    for rule in written.values():
        assert rule["annotations"]["summary"].strip() and rule["annotations"]["description"].strip(), rule["alert"]
    # Once evaluated after the targets came up: an evaluation every 5 s.
    time.sleep(6)
    loaded = {
        rule["name"]: rule for group in prometheus.api("rules", type="alert")["groups"] for rule in group["rules"]
    }
    assert set(loaded) == set(written)
    for name, rule in loaded.items():
        assert rule["health"] == "ok", (name, rule.get("lastError"))
        assert rule["annotations"] == written[name]["annotations"], name
    firing = {
        alert["labels"]["alertname"] for alert in prometheus.api("alerts")["alerts"] if alert["state"] == "firing"
    }
    assert firing <= EXPECTED_FIRING, firing


def metric_names(promql: str) -> set[str]:
    """The metric names a PromQL expression selects: what is left once label matchers, ranges,
    `by (...)` lists and functions' names are taken out."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", promql)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\s*\(", "(", text)
    return set(re.findall(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*", text)) - {"bool", "offset"}


def dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expression = target["expr"]
            for variable, value in DASHBOARD_VARIABLES.items():
                expression = expression.replace(variable, value)
            assert "$" not in expression, (panel["title"], expression)
            queries.append((panel["title"], expression))
    return queries


def test_the_dashboard_is_a_grafana_model_on_a_chosen_prometheus() -> None:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    assert dashboard["schemaVersion"] >= 39
    (variable,) = dashboard["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == ("datasource", "datasource", "prometheus")
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"], panel["title"]
    assert len(dashboard_queries()) >= 20
    # What the check of the names below relies on: the names, without functions, labels or numbers.
    quantile = "histogram_quantile(0.95, sum by (voice, le) (rate(tts_first_audio_seconds_bucket[1m])))"
    assert metric_names(quantile) == {"tts_first_audio_seconds_bucket"}
    assert metric_names('min(probe_success{job="deep-health"}) == bool 0') == {"probe_success"}
    assert metric_names("sum by (voice) (tts_active_streams) + max(nginx_up)") == {"tts_active_streams", "nginx_up"}


def test_every_dashboard_query_evaluates_on_metrics_the_stack_exports(prometheus: Prometheus) -> None:
    """Each query runs without error, and every metric it names is one a target exports: a name
    the services do not export would only ever show an empty panel."""
    metadata = prometheus.api("metadata")
    exported = set(metadata) | SYNTHETIC_SERIES
    alerts = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    rule_queries = [(rule["alert"], rule["expr"]) for group in alerts["groups"] for rule in group["rules"]]
    unknown = {}
    for where, expression in dashboard_queries() + rule_queries:
        prometheus.query(expression)
        for name in metric_names(expression):
            family = re.sub(r"_(bucket|sum|count|total)$", "", name)  # as the metadata names it
            if name not in exported and family not in exported:
                unknown.setdefault(name, []).append(where)
    assert not unknown, f"metrics no target exports: {unknown}"
