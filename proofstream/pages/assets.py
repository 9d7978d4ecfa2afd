"""The pages' static assets, shipped as package data under ``assets/``.

- ``echarts/echarts.min.js`` — Apache ECharts, vendored from the npm registry
  (version, source and sha256 in ``echarts/VERSION.json``; its ``LICENSE``,
  ``NOTICE`` and ``LICENSE-d3`` beside it; how to update it: ``docs/proof-pages.md``);
- ``pages.js`` — our drawing code (reads the page's JSON, calls ECharts);
- ``pages.css`` — the pages' style.

Each is read once per process and kept (they are immutable package data).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = ["ASSET_DIR", "SERVED", "Asset", "asset", "echarts_version"]

ASSET_DIR = Path(__file__).resolve().parent / "assets"

SERVED = MappingProxyType(
    {
        "echarts.min.js": ("echarts/echarts.min.js", "text/javascript; charset=utf-8"),
        "pages.js": ("pages.js", "text/javascript; charset=utf-8"),
        "pages.css": ("pages.css", "text/css; charset=utf-8"),
        "echarts-LICENSE.txt": ("echarts/LICENSE", "text/plain; charset=utf-8"),
        "echarts-NOTICE.txt": ("echarts/NOTICE", "text/plain; charset=utf-8"),
        "echarts-LICENSE-d3.txt": ("echarts/LICENSE-d3", "text/plain; charset=utf-8"),
    }
)
"""Name under ``/pages/assets/`` → (file under ``assets/``, content type)."""


@dataclass(frozen=True, slots=True)
class Asset:
    """One asset's text, content type and CSP source hash (``'sha256-…'``)."""

    name: str
    text: str
    content_type: str

    @property
    def csp_hash(self) -> str:
        import base64

        digest = hashlib.sha256(self.text.encode()).digest()
        return f"'sha256-{base64.b64encode(digest).decode()}'"


@cache
def asset(name: str) -> Asset:
    """The asset served as ``name`` (a key of :data:`SERVED`); ``KeyError`` otherwise."""
    relative, content_type = SERVED[name]
    return Asset(name, (ASSET_DIR / relative).read_text(encoding="utf-8"), content_type)


@cache
def echarts_version() -> dict[str, Any]:
    """The vendored ECharts' ``VERSION.json``: package, version, source, sha256."""
    data: dict[str, Any] = json.loads((ASSET_DIR / "echarts" / "VERSION.json").read_text())
    return data
