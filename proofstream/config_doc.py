"""The configuration reference, generated from the ``Settings`` model.

``docs/configuration.md`` is this module's output, never edited by hand::

    uv run --all-extras python -m proofstream.config_doc > docs/configuration.md

``tests/unit/test_config_doc.py`` fails when the file differs from what the code
generates now, so the reference cannot drift from the fields, their types,
defaults and ``Field(description=...)``.

Pure: walks the model classes and evaluates their defaults; it never builds
``Settings()``, which would read the environment and the secrets directory and put
this machine's values in the reference. Defaults that depend on the machine are
written symbolically (``~`` for the home directory, ``<state_dir>`` for the state
directory), so the file is the same wherever it is generated.
"""

from __future__ import annotations

import enum
import json
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, SecretBytes, SecretStr
from pydantic.fields import FieldInfo

from proofstream.settings import Settings
from sinks.catalog import DataHubSettings
from sinks.evidence import ChronicleSettings
from sinks.facts.settings import ClickHouseSettings
from sinks.lineage import OpenLineageSettings

__all__ = [
    "DEFAULT_SECRETS_DIR",
    "REGENERATE",
    "SECRETS_DIR_VARIABLE",
    "Leaf",
    "document",
    "leaves",
    "main",
    "markdown_table",
    "sections",
]

REGENERATE = "uv run --all-extras python -m proofstream.config_doc > docs/configuration.md"
"""The command that rewrites docs/configuration.md."""

SECRETS_DIR_VARIABLE = "PROOFSTREAM_SECRETS_DIR"
# Read by proofstream.cli.build_settings, not a settings field: the directory has to
# be known before Settings is built. Kept here as text because importing the CLI
# would pull every command's dependencies; the test pins it to the CLI's value.
DEFAULT_SECRETS_DIR = "/run/secrets/proofstream"

_PREFIX: str = Settings.model_config.get("env_prefix") or ""
_NESTING: str = Settings.model_config.get("env_nested_delimiter") or "__"
_STATE_DIR = "<state_dir>"
# an absolute stand-in for the state dir: the resolvers below call Path.resolve(),
# which would turn a relative one into this machine's working directory
_STATE_DIR_ROOT = PurePath("/", _STATE_DIR)
_UNSET = "\N{EN DASH}"

# Fields whose unset value means a place under the state dir, with the resolver the
# code itself calls for it: the reference shows what the code does, not a copy of it.
_UNDER_STATE_DIR: dict[str, Callable[[Any, Path], object]] = {
    "clickhouse__dsn": ClickHouseSettings.resolve_dsn,
    "datahub__lite_file": DataHubSettings.lite_file_in,
    "chronicle__root": ChronicleSettings.resolve_root,
    "chronicle__signing_key_file": ChronicleSettings.resolve_signing_key,
    "openlineage__file": OpenLineageSettings.resolve_file,
}


@dataclass(frozen=True)
class Leaf:
    """One setting that holds a value (not a nested model)."""

    key: str
    """Its path with ``__`` between the parts: ``kafka__sasl_password``, also the
    name of its file in the secrets directory when it is a secret."""
    field: FieldInfo
    default: object
    """The default as the code evaluates it (factories called)."""
    owner: BaseModel | None
    """The default instance of the model that holds it, for the state-dir resolvers."""

    @property
    def env(self) -> str:
        return f"{_PREFIX}{self.key.upper()}"

    @property
    def secret(self) -> bool:
        return any(kind in (SecretStr, SecretBytes) for kind in _kinds(self.field.annotation))


def _kinds(annotation: object) -> tuple[object, ...]:
    """``X`` for ``X``, ``(X, None)`` for ``X | None``."""
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return (annotation,)


def _model_of(annotation: object) -> type[BaseModel] | None:
    for kind in _kinds(annotation):
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            return kind
    return None


def _walk(
    model: type[BaseModel], instance: BaseModel | None, prefix: str
) -> Iterator[tuple[str, Leaf | None]]:
    """``(key, leaf)`` for every field, ``(key, None)`` for a nested model, in
    declaration order (the order the reference lists them)."""
    for name, field in model.model_fields.items():
        key = f"{prefix}{_NESTING}{name}" if prefix else name
        if instance is not None:
            default = getattr(instance, name)
        else:
            default = field.get_default(call_default_factory=True, validated_data={})
        nested = _model_of(field.annotation)
        if nested is not None:
            yield key, None
            # a section's defaults come from its own default instance, so a default
            # factory that overrides a nested default shows here as it takes effect
            yield from _walk(nested, default if isinstance(default, BaseModel) else None, key)
        else:
            yield key, Leaf(key, field, default, instance)


def leaves(model: type[BaseModel] = Settings) -> list[Leaf]:
    """Every leaf setting of ``model``, in declaration order. Pure."""
    return [leaf for _, leaf in _walk(model, None, "") if leaf is not None]


def sections(model: type[BaseModel] = Settings) -> list[str]:
    """The key of every nested model (``kafka``, ``kafka__topics``, ...). Pure."""
    return [key for key, leaf in _walk(model, None, "") if leaf is None]


def _type_name(annotation: object) -> str:
    """``int``, ``path``, ``list of str``, ``one of a|b``...; ``X | None`` is ``X``
    (the default column shows whether it may stay unset)."""
    kinds = [k for k in _kinds(annotation) if k is not type(None)]
    if len(kinds) > 1:
        return " or ".join(_type_name(k) for k in kinds)
    kind = kinds[0]
    origin = get_origin(kind)
    choices: list[object] | None = None
    if origin is Literal:
        choices = list(get_args(kind))
    elif isinstance(kind, type) and issubclass(kind, enum.Enum):
        choices = [member.value for member in kind]
    if choices is not None:
        return "one of " + "|".join(str(c) for c in choices)
    if origin in (tuple, list, set, frozenset):
        items = [a for a in get_args(kind) if a is not Ellipsis]
        return "list of " + (_type_name(items[0]) if items else "str")
    if kind in (SecretStr, SecretBytes):
        return "secret"
    if isinstance(kind, type) and issubclass(kind, PurePath):
        return "path"
    return str(getattr(kind, "__name__", kind))


def _bounds(field: FieldInfo) -> str:
    """The numeric limits the validator applies: a range (1 to 65535, written with an
    en dash), or ``≥ 1024``, ``> 0``."""
    low = high = ""
    for item in field.metadata:
        if isinstance(item, annotated_types.Ge):
            low = f"≥ {item.ge}"
        elif isinstance(item, annotated_types.Gt):
            low = f"> {item.gt}"
        elif isinstance(item, annotated_types.Le):
            high = f"≤ {item.le}"
        elif isinstance(item, annotated_types.Lt):
            high = f"< {item.lt}"
    if low.startswith("≥") and high.startswith("≤"):
        return f"{low[2:]}\N{EN DASH}{high[2:]}"
    return ", ".join(part for part in (low, high) if part)


def _type(field: FieldInfo) -> str:
    name = _type_name(field.annotation)
    bounds = _bounds(field)
    return f"{name} ({bounds})" if bounds else name


def _symbolic(text: str) -> str:
    """``text`` with the home directory written ``~`` and the state-dir stand-in
    ``<state_dir>``: never this machine's absolute paths."""
    text = text.replace(str(_STATE_DIR_ROOT), _STATE_DIR)
    home = str(Path.home())
    if home != "/" and (text == home or text.startswith(home + "/")):
        return "~" + text[len(home) :]
    return text


def _code(text: str) -> str:
    return f"`{text}`"


def _default(leaf: Leaf) -> str:
    if leaf.secret:
        return _UNSET  # never a value, whatever the default
    if leaf.default is None:
        resolve = _UNDER_STATE_DIR.get(leaf.key)
        if resolve is None or leaf.owner is None:
            return _UNSET
        return _code(_symbolic(str(resolve(leaf.owner, Path(_STATE_DIR_ROOT)))))
    return _code(_value_text(leaf.default))


def _value_text(value: object) -> str:
    """A default as it is written in the environment variable."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, tuple | list | set | frozenset):
        return json.dumps([_symbolic(str(v)) for v in value])  # lists are JSON
    text = _symbolic(str(value))
    return text if text else '""'


def _variable(leaf: Leaf) -> str:
    if leaf.secret:
        return f"secrets file `{leaf.key}`, else `{leaf.env}`"
    return _code(leaf.env)


def _cell(text: str) -> str:
    """One line per row; a bare ``|`` would end the cell, and outside code spans a
    bare ``<name>`` would be read as an HTML tag and vanish."""
    parts = " ".join(text.split()).split("`")
    parts[::2] = [part.replace("<", "&lt;") for part in parts[::2]]
    return "`".join(parts).replace("|", "\\|")


def markdown_table(model: type[BaseModel] = Settings) -> str:
    """One row per leaf setting: variable (and secrets file), type, default,
    description. Pure."""
    found = leaves(model)
    unknown = set(_UNDER_STATE_DIR) - {leaf.key for leaf in found}
    if model is Settings and unknown:
        # a renamed field would otherwise silently lose its state-dir default
        raise ValueError(f"state-dir defaults for fields that do not exist: {sorted(unknown)}")
    lines = [
        "| Variable | Type | Default | Description |",
        "|---|---|---|---|",
    ]
    for leaf in found:
        cells = (_variable(leaf), _type(leaf.field), _default(leaf), leaf.field.description or "")
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def document() -> str:
    """The whole of docs/configuration.md. Pure."""
    header = f"""# Configuration reference

<!-- Generated by proofstream/config_doc.py from the Settings model; do not edit. -->

Generated from `proofstream.settings.Settings`; regenerate it after changing a setting:

```bash
{REGENERATE}
```

`tests/unit/test_config_doc.py` fails while this file differs from what the code generates.

proofstream reads its settings once, at start, into one `Settings` object. Each
setting is an environment variable: `{_PREFIX}` and the setting's path in upper
case, nested parts joined by `{_NESTING}` (`{_PREFIX}KAFKA{_NESTING}BOOTSTRAP_SERVERS=host:9092`).
A list is written as JSON (`["facts", "archive"]`). An unset variable takes the
default below; `{_UNSET}` means none (the setting stays unset).

Secrets are read from files in the secrets directory (`{SECRETS_DIR_VARIABLE}`,
default `{DEFAULT_SECRETS_DIR}`, when it exists), one file per secret named
`<section>{_NESTING}<field>` (`kafka{_NESTING}sasl_password`), surrounding whitespace
stripped. The file wins over the environment variable, which is only the
local-development fallback. No secret value ever appears below.

`{_PREFIX}LOG_LEVEL` sets the level of every library's log lines on stderr.
OpenTelemetry reads its own standard `OTEL_*` variables. In defaults, `~` is the
home directory of the user running proofstream and `{_STATE_DIR}` is
`{_PREFIX}STATE_DIR`.

"""
    return header + markdown_table()


def main() -> None:
    """Write the reference to stdout."""
    sys.stdout.write(document())


if __name__ == "__main__":
    main()
