"""What every service exports at `GET /metrics` (Prometheus' text format): the requests it
answered, by route and status, beside the metrics of its own (services/*/metrics.py).

Under gunicorn every worker's values are added up (services.common.metrics_files). A service
run in-process (a WSGI app without gunicorn's configuration) exports its own process' values.
`/metrics` is never behind API keys: the gateway does not route it, so only what is inside the
stack reaches it (GATEWAY_METRICS_ALLOW opens the gateway's copy, see the README).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import falcon
import falcon.asgi
from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from services.common.metrics_files import MULTIPROCESS_DIR_ENV

METRICS_PATH = "/metrics"
# An echo reply's request to TTS carries how long the caller has waited since its audio ended (the
# orchestrator says, the gateway passes it on), so TTS can count the whole voice-to-voice time.
ECHO_WAITED_HEADER = "X-Echo-Waited-Seconds"

HTTP_REQUESTS = Counter(
    "http_requests",
    "Requests answered, by route (the path's template), method and status.",
    ["route", "method", "status"],
)

# Methods a route can serve; anything else a client sends is counted as "other", so no request
# can add label values of its own choosing.
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"


class RequestCounter:
    """Falcon middleware (WSGI and ASGI) counting each answer by route, method and status.

    The route is the template a request matched (`/v1/models/{model_id}`), never the path
    itself: a client cannot make label values up. A streamed answer is counted when its headers
    leave, with the status they carry.
    """

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        route = req.uri_template or UNMATCHED_ROUTE
        method = req.method if req.method in _KNOWN_METHODS else "other"
        HTTP_REQUESTS.labels(route, method, str(resp.status_code)).inc()

    async def process_response_async(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, resource: object, req_succeeded: bool
    ) -> None:
        self.process_response(req, resp, resource, req_succeeded)


def scrape_registry(collectors: Iterable[Collector] = ()) -> CollectorRegistry:
    """What a scrape reads: every worker's metrics, and what `collectors` read now."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROCESS_DIR_ENV):
        MultiProcessCollector(registry)
    else:
        registry.register(REGISTRY)  # this process' own metrics
    for collector in collectors:
        registry.register(collector)
    return registry


class MetricsResource:
    """`GET /metrics` on a WSGI app."""

    def __init__(self, collectors: Iterable[Collector] = ()) -> None:
        self._collectors = tuple(collectors)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        # The format the scraper asks for: Prometheus' text, or OpenMetrics.
        try:
            encode, resp.content_type = choose_encoder(req.get_header("Accept") or "")
        except (TypeError, ValueError):  # a version the library cannot read: the plain text format
            encode, resp.content_type = choose_encoder("")
        resp.data = encode(scrape_registry(self._collectors))
        resp.cache_control = ["no-store"]


class AsyncMetricsResource(MetricsResource):
    """`GET /metrics` on an ASGI app (reading the files is quick: done on the event loop)."""

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:  # type: ignore[override]
        super().on_get(req, resp)
