"""Small words for people: counts with the right noun."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["iso_utc", "plural"]


def plural(count: int, one: str, many: str | None = None) -> str:
    """``"1 leaf"``, ``"2 leaves"``: ``many`` defaults to ``one + "s"``. Pure."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


def iso_utc(moment: datetime, timespec: str = "seconds") -> str:
    """``2026-11-30T22:40:19Z``: ISO 8601 in UTC with a ``Z``, as every command prints
    times. A naive ``moment`` is taken as UTC. Pure."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    text = aware.astimezone(UTC).isoformat(timespec=timespec)
    return text.replace("+00:00", "Z")
