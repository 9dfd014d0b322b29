"""How the servers name themselves in Wyoming's `info`, and how they parse a request's event."""

from __future__ import annotations

from typing import TypeVar

from wyoming.event import Event, Eventable
from wyoming.info import Attribution

from services.wyoming.events import WyomingError

PROGRAM_NAME = "streaming-tts-stt"
_E = TypeVar("_E", bound=Eventable)


def program_attribution() -> Attribution:
    # A self-hosted install has no address of its own to point to.
    return Attribution(name=PROGRAM_NAME, url="")


def parse(event_class: type[_E], event: Event) -> _E:
    """The event as the `wyoming` package reads it; a field missing or of the wrong type is
    the client's error, not ours."""
    try:
        return event_class.from_event(event)  # type: ignore[return-value]
    except (KeyError, TypeError, ValueError, AttributeError):
        raise WyomingError("invalid_event", f"a {event.type} event with missing or malformed fields") from None
