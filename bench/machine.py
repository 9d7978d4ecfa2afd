"""What a benchmark ran on, written beside its figures: CPUs, model, memory, load;
and the one way a benchmark writes its figures (``--json-out``)."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["load", "machine", "write_figures"]


def load() -> str:
    return "load avg " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def machine() -> dict[str, Any]:
    """Plain facts from /proc (Linux); missing ones are ``None``."""
    model = None
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gb = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 2**20, 1)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": mem_gb,
        "python": platform.python_version(),
        "load_at_start": list(os.getloadavg()),
    }


def write_figures(path: Path | None, figures: dict[str, Any]) -> None:
    """Write ``figures`` as JSON to ``path`` (``--json-out``; nothing when None), with
    the load average at the end beside the machine's facts."""
    if path is None:
        return
    figures.setdefault("machine", machine())["load_at_end"] = list(os.getloadavg())
    # in the file, not its mtime: a checkout gives every file the time of the checkout
    figures["written_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"figures written to {path}")
