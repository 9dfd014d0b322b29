"""Optional API keys: with `API_KEYS` set, the APIs answer only requests that carry one.

Off by default, as a service on a private network needs none. With keys set, every path under
`/api/` and `/v1/` needs `Authorization: Bearer <key>` (what OpenAI's clients send), or
answers 401 in the shape of the API asked; health checks stay open for load balancers and
orchestrators, and so do the two lists Open WebUI reads without sending its key.

A browser cannot put a header on a WebSocket's handshake; it can only offer subprotocols. So a
key may also come as the subprotocol `bearer.<the key in base64url, unpadded>`, as Kubernetes
takes a browser's token; the service accepts the connection with that subprotocol, as the
WebSocket protocol requires of one it was offered.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable

import falcon

from services.common.config import env_str
from services.common.errors import api_error

PROTECTED_PREFIXES = ("/api/", "/v1/")
OPEN_PATHS = frozenset({"/v1/audio/voices", "/v1/audio/models"})
KEY_SUBPROTOCOL_PREFIX = "bearer."


def api_keys_from_env() -> frozenset[str]:
    """The keys in API_KEYS (comma-separated); none means key checking is off."""
    return frozenset(key.strip() for key in env_str("API_KEYS", "").split(",") if key.strip())


class ApiKeyCheck:
    """Falcon middleware refusing requests to the APIs without a known key."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = [key.encode() for key in keys]

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not self._keys or not req.path.startswith(PROTECTED_PREFIXES) or req.path in OPEN_PATHS:
            return
        token = presented_key(req)
        if token is None or not self._known(token):
            raise api_error(
                falcon.HTTP_401,
                "invalid_api_key",
                "a valid API key is required: send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    def _known(self, token: bytes) -> bool:
        # Compare with every key in constant time, so timing tells nothing about any key.
        return any([hmac.compare_digest(token, key) for key in self._keys])  # noqa: C419 (all, not the first)


def presented_key(req: falcon.Request) -> bytes | None:
    """The key a request carries: its `Authorization: Bearer` header's, or, on a WebSocket's
    handshake, its key subprotocol's."""
    scheme, _, token = (req.get_header("Authorization") or "").partition(" ")
    if scheme.lower() == "bearer":
        return token.strip().encode()
    if (req.get_header("Upgrade") or "").lower() != "websocket":
        return None
    offered = (req.get_header("Sec-WebSocket-Protocol") or "").split(",")
    protocol = key_subprotocol(name.strip() for name in offered)
    if protocol is None:
        return None
    encoded = protocol.removeprefix(KEY_SUBPROTOCOL_PREFIX)
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        return None


def key_subprotocol(offered: Iterable[str]) -> str | None:
    """The subprotocol, of those a WebSocket client offered, that carries its key."""
    return next((name for name in offered if name.startswith(KEY_SUBPROTOCOL_PREFIX)), None)
