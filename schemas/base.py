"""The pydantic base every model in ``schemas`` derives from.

Constructing a model either returns a frozen, validated instance or raises
:class:`~schemas.errors.InvalidEventError` naming the dotted path of the first
offending field (``attributes.note``, ``inputs[2].name``). Pydantic's
``ValidationError`` never escapes a constructor;
``model_validate`` is translated by :func:`invalid_event_from` at the JSON
boundary (``schemas.jsonio``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.errors import InvalidEventError

__all__ = ["FrozenModel", "field_path", "invalid_event_from"]


def field_path(loc: Sequence[int | str], prefix: str = "") -> str:
    """The dotted path of a pydantic error location: ``inputs[2].name``,
    ``attributes.note``. A map key's own error names the map, never the key (it
    may be the secret the rule refused). ``"<event>"`` for an empty path. Pure."""
    parts = list(loc)
    if parts and parts[-1] == "[key]":
        del parts[-2:]
    path = prefix
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path or "<event>"


def invalid_event_from(exc: ValidationError, prefix: str = "") -> InvalidEventError:
    """Translate pydantic's error into ours: the first error's location as a path
    (:func:`field_path`) and its message as the reason."""
    first = exc.errors(include_url=False, include_input=False)[0]
    reason = str(first["msg"]).removeprefix("Value error, ")
    return InvalidEventError(field_path(first["loc"], prefix), reason)


class FrozenModel(BaseModel):
    """Immutable, closed (unknown fields rejected) model with typed construction errors.

    ``field_path`` is where instances of this model sit inside an event
    (``producer``), so a standalone ``Producer(...)`` reports ``producer.workload_id``.
    """

    # hide_input_in_errors: the chained ValidationError must not print a value a
    # rule refused (a token, a key) into a log or a traceback.
    model_config = ConfigDict(
        frozen=True, extra="forbid", use_enum_values=False, hide_input_in_errors=True
    )

    field_path: ClassVar[str] = ""

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise invalid_event_from(exc, type(self).field_path) from exc

    # Only a direct call (``Producer(...)``) translates. Marked as pydantic's own
    # __init__ (as pydantic's RootModel does), a model nested in another is built
    # without it, so its errors reach the outer model with their full location
    # (``inputs[2].name``, not ``name``) and no Python __init__ runs per nested model.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]
