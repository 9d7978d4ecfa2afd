"""JSON helpers: events to and from JSON-able dicts (``emit --file``, ``tail --json``).

The JSON form is ``event.model_dump(mode="json")`` plus ``event_type``:
timestamps are ISO-8601 strings with an offset, UUIDs and enums are strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from schemas.base import invalid_event_from
from schemas.errors import InvalidEventError
from schemas.events import EVENT_TYPES, Event

__all__ = ["event_from_json", "event_to_json"]


def event_from_json(obj: Mapping[str, Any]) -> Event:
    """Build the event model ``obj["event_type"]`` names from a JSON-able mapping.

    Pure. Raises :class:`InvalidEventError` naming the dotted field path of the
    first problem (``event_type`` when it is missing or unknown).
    """
    if not isinstance(obj, Mapping):
        raise InvalidEventError("<event>", f"expected a JSON object, got {type(obj).__name__}")
    event_type = obj.get("event_type")
    cls = EVENT_TYPES.get(event_type) if isinstance(event_type, str) else None
    if cls is None:
        raise InvalidEventError("event_type", f"unknown event type {event_type!r}")
    data = {k: v for k, v in obj.items() if k != "event_type"}
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise invalid_event_from(exc) from exc


def event_to_json(event: Event) -> dict[str, Any]:
    """The JSON-able dict of ``event``; ``event_from_json`` reads it back equal. Pure."""
    return {"event_type": event.event_type, **event.model_dump(mode="json")}
