"""What every service's Falcon app starts with: API keys, request ids on every answer, and
errors in each API's shape."""

from __future__ import annotations

import falcon

from services.common.api_keys import ApiKeyCheck, api_keys_from_env
from services.common.errors import install_json_errors
from services.common.request_id import RequestIdEcho


def create_service_app() -> falcon.App:
    app = falcon.App(middleware=[RequestIdEcho(), ApiKeyCheck(api_keys_from_env())])
    install_json_errors(app)
    return app
