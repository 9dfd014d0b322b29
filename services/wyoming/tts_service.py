"""The TTS service as the Wyoming TTS server calls it: its voices, and speech streamed as PCM.

Each call is one HTTP request to the service's native API (`/api/voices`, `/api/tts`), so the
service's validation, limits, admission and scheduling apply to Wyoming clients unchanged; its
JSON errors come back as `WyomingError`s with the same codes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from services.wyoming.events import WyomingError

SAMPLE_WIDTH = 2  # the service streams s16le
VOICES_TTL_SECONDS = 10.0
"""How long a list of voices is used before it is asked for again (describe always asks)."""


@dataclass(frozen=True)
class ServedVoice:
    id: str
    language: str | None
    sample_rate: int
    speaker: str | None
    """The speaker this voice speaks with, when its model has several."""
    description: dict[str, Any]
    """The voice as `/api/voices` describes it."""


@dataclass(frozen=True)
class Voices:
    default: str | None
    voices: dict[str, ServedVoice]


class TtsService:
    def __init__(self, base_url: str, api_key: str | None, read_timeout_seconds: float = 60.0) -> None:
        self._base_url = base_url
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=3, sock_read=read_timeout_seconds)
        self._session: aiohttp.ClientSession | None = None
        self._voices: Voices | None = None
        self._voices_at = 0.0

    def _http(self) -> aiohttp.ClientSession:
        # Made on first use, inside the server's event loop, which aiohttp binds it to.
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def voices(self, fresh: bool = False) -> Voices:
        if fresh or self._voices is None or time.monotonic() - self._voices_at > VOICES_TTL_SECONDS:
            body = await self._get_json("/api/voices")
            self._voices = Voices(
                default=body.get("default"), voices={v["id"]: _served_voice(v) for v in body.get("voices", [])}
            )
            self._voices_at = time.monotonic()
        return self._voices

    async def _get_json(self, path: str) -> dict[str, Any]:
        try:
            async with self._http().get(self._base_url + path) as response:
                if response.status != 200:
                    raise await _service_error(response)
                return await response.json()
        except (aiohttp.ClientError, TimeoutError):
            raise _unavailable() from None

    async def speech(self, text: str, voice: ServedVoice) -> AsyncIterator[bytes]:
        """The voice saying `text`: s16le mono at the voice's own rate, block by block as the
        service streams it (each block whole samples)."""
        fields = {"text": text, "voice": voice.id, "sample_rate": voice.sample_rate}
        headers = {"X-Request-ID": uuid.uuid4().hex}
        try:
            async with self._http().post(self._base_url + "/api/tts", json=fields, headers=headers) as response:
                if response.status != 200:
                    raise await _service_error(response)
                carry = b""
                async for block in response.content.iter_any():
                    block = carry + block
                    whole = len(block) - len(block) % SAMPLE_WIDTH
                    carry = block[whole:]
                    if whole:
                        yield block[:whole]
        except aiohttp.ClientPayloadError:
            raise WyomingError("synthesis_failed", "the TTS service's audio stream broke off") from None
        except (aiohttp.ClientError, TimeoutError):
            raise _unavailable() from None


def _served_voice(described: dict[str, Any]) -> ServedVoice:
    speakers = described.get("speakers") or []
    return ServedVoice(
        id=described["id"],
        language=described.get("language"),
        sample_rate=int(described["native_sample_rate"]),
        speaker=described.get("default_speaker") or (speakers[0] if speakers else None),
        description=described,
    )


async def _service_error(response: aiohttp.ClientResponse) -> WyomingError:
    """The service's JSON error (`{"error": {"code", "message"}}`) as a Wyoming error."""
    try:
        error = (await response.json(content_type=None))["error"]
        return WyomingError(str(error["code"]), str(error["message"]))
    except (TimeoutError, ValueError, KeyError, TypeError, aiohttp.ClientError):
        return WyomingError("tts_failed", f"the TTS service answered {response.status}")


def _unavailable() -> WyomingError:
    return WyomingError("tts_unavailable", "the TTS service is not reachable")
