"""The gateway's own counters in the orchestrator's /metrics: nginx's stub_status page, read at
each scrape and given as Prometheus metrics (named as nginx's own Prometheus exporter names them).

stub_status says, for the whole gateway:

    Active connections: 3
    server accepts handled requests
     120 120 410
    Reading: 0 Writing: 1 Waiting: 2
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import requests
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

_STATUS = re.compile(
    r"Active connections:\s*(?P<active>\d+)\s+server accepts handled requests\s+"
    r"(?P<accepted>\d+)\s+(?P<handled>\d+)\s+(?P<requests>\d+)\s+"
    r"Reading:\s*(?P<reading>\d+)\s+Writing:\s*(?P<writing>\d+)\s+Waiting:\s*(?P<waiting>\d+)"
)


class NginxStatus(Collector):
    """Reads `url` (the gateway's stub_status) when collected; `nginx_up` says whether it could."""

    def __init__(self, url: str, timeout_seconds: float = 2.0) -> None:
        self._url = url
        self._timeout = timeout_seconds

    def _read(self) -> re.Match[str] | None:
        try:
            answer = requests.get(self._url, timeout=self._timeout)
        except requests.RequestException:
            return None
        return _STATUS.search(answer.text) if answer.status_code == 200 else None

    def collect(self) -> Iterator[Metric]:
        status = self._read()
        yield GaugeMetricFamily("nginx_up", "Whether the gateway's status was read (1) or not (0).", status is not None)
        if status is None:
            return
        yield GaugeMetricFamily(
            "nginx_connections_active", "Client connections open, waiting ones included.", int(status["active"])
        )
        for state in ("reading", "writing", "waiting"):
            yield GaugeMetricFamily(
                f"nginx_connections_{state}", f"Client connections {state} now.", int(status[state])
            )
        yield CounterMetricFamily("nginx_connections_accepted", "Client connections accepted.", int(status["accepted"]))
        yield CounterMetricFamily("nginx_connections_handled", "Client connections handled.", int(status["handled"]))
        yield CounterMetricFamily("nginx_http_requests", "Client requests.", int(status["requests"]))
