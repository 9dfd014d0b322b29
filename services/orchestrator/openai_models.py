"""`GET /v1/models` and `GET /v1/models/{id}`: OpenAI's model list, of what the services serve.

The speech voices come from the TTS service and the recognition model from the ASR service,
asked side by side with the client's own key. A service that does not answer is left out of
the list (its health is on /healthz); when neither answers, the list is a 502.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import falcon
import requests

from services.common.errors import api_error
from services.orchestrator.settings import OrchestratorSettings

_LOG = logging.getLogger(__name__)

OWNER = "streaming-tts-stt"


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": OWNER}


class ModelList:
    def __init__(self, settings: OrchestratorSettings) -> None:
        self._voices_url = f"{settings.tts_url}/api/voices"
        self._asr_models_url = f"{settings.asr_url}/api/stt/models"
        self._pool = ThreadPoolExecutor(max_workers=2)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"object": "list", "data": [_model(model_id) for model_id in self._model_ids(req)]}

    def on_get_one(self, req: falcon.Request, resp: falcon.Response, model_id: str) -> None:
        if model_id not in self._model_ids(req):
            raise api_error(falcon.HTTP_404, "model_not_found", f"no model '{model_id}'", param="model")
        resp.media = _model(model_id)

    def _model_ids(self, req: falcon.Request) -> list[str]:
        headers = {"Authorization": req.auth} if req.auth else {}
        voices, asr = self._pool.map(lambda url: self._ask(url, headers), (self._voices_url, self._asr_models_url))
        if voices is None and asr is None:
            raise api_error(falcon.HTTP_502, "services_unavailable", "neither the TTS nor the ASR service answers")
        ids = [voice["id"] for voice in (voices or {}).get("voices", [])]
        loaded = (asr or {}).get("loaded")
        return ids + ([loaded["id"]] if loaded else [])

    def _ask(self, url: str, headers: dict[str, str]) -> dict[str, Any] | None:
        try:
            answer = requests.get(url, headers=headers, timeout=5)
            answer.raise_for_status()
            return answer.json()
        except (requests.RequestException, ValueError) as error:
            _LOG.warning("model list: %s did not answer (%s)", url, error)
            return None
