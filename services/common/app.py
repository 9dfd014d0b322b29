"""What every service's Falcon app starts with: API keys, request ids on every answer, errors in
each API's shape, and its metrics (`/metrics`)."""

from __future__ import annotations

from collections.abc import Iterable

import falcon
from prometheus_client.registry import Collector

from services.common.api_keys import ApiKeyCheck, api_keys_from_env
from services.common.errors import install_json_errors
from services.common.metrics import METRICS_PATH, MetricsResource, RequestCounter
from services.common.request_id import RequestIdEcho


def create_service_app(metrics_collectors: Iterable[Collector] = ()) -> falcon.App:
    """`metrics_collectors`: what `/metrics` reads at each scrape beside the recorded metrics."""
    app = falcon.App(middleware=[RequestCounter(), RequestIdEcho(), ApiKeyCheck(api_keys_from_env())])
    install_json_errors(app)
    app.add_route(METRICS_PATH, MetricsResource(metrics_collectors))
    return app
