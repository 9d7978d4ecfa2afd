"""The README's examples work as written."""

from __future__ import annotations

import re
from pathlib import Path

from proofstream.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def _python_block_after(heading: str) -> str:
    text = README.read_text()
    section = text.split(heading, 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"no python block after {heading!r}"
    return match.group(1)


def test_emitting_events_example_runs(settings: Settings, bootstrap: str, capsys) -> None:
    code = _python_block_after("## Emitting events")
    assert len(code.strip().splitlines()) <= 25
    exec(compile(code, "README.md", "exec"), {})
    topic, partition, offset = capsys.readouterr().out.split()
    assert topic == settings.kafka.topics.events
    assert int(partition) >= 0 and int(offset) >= 0
