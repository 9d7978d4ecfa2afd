"""What a benchmark ran on, written beside its figures: CPUs, model, memory, load."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

__all__ = ["load", "machine"]


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
