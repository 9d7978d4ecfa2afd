"""The pydantic base every model in ``schemas`` derives from.

Constructing a model either returns a frozen, validated instance or raises
:class:`~schemas.errors.InvalidEventError` naming the dotted path of the first
offending field. Pydantic's ``ValidationError`` never escapes a constructor;
``model_validate`` is translated by :func:`invalid_event_from` at the JSON
boundary (``schemas.jsonio``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.errors import InvalidEventError

__all__ = ["FrozenModel", "invalid_event_from"]


def invalid_event_from(exc: ValidationError, prefix: str = "") -> InvalidEventError:
    """Translate pydantic's error into ours: the first error's ``loc`` as a dotted path."""
    first = exc.errors(include_url=False)[0]
    path = ".".join(str(part) for part in first["loc"])
    field = ".".join(p for p in (prefix, path) if p) or "<event>"
    reason = str(first["msg"]).removeprefix("Value error, ")
    return InvalidEventError(field, reason)


class FrozenModel(BaseModel):
    """Immutable, closed (unknown fields rejected) model with typed construction errors.

    ``field_path`` is where instances of this model sit inside an event
    (``producer``), so a standalone ``Producer(...)`` reports ``producer.workload_id``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    field_path: ClassVar[str] = ""

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise invalid_event_from(exc, type(self).field_path) from exc
