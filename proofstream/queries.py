"""The analyst queries shipped in ``queries/*.sql``, with their documented question."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["AnalystQuery", "analyst_queries"]

_CANDIDATES = (
    Path(__file__).resolve().parent / "queries",  # installed wheel (force-included)
    Path(__file__).resolve().parents[1] / "queries",  # a source checkout
)


@dataclass(frozen=True)
class AnalystQuery:
    name: str
    question: str
    sql: str


def analyst_queries() -> list[AnalystQuery]:
    """Every ``queries/*.sql`` in name order; the question is its ``-- Question:`` line."""
    folder = next((p for p in _CANDIDATES if p.is_dir()), None)
    if folder is None:
        return []
    found = []
    for path in sorted(folder.glob("*.sql")):
        sql = path.read_text()
        question = next(
            (
                line.split(":", 1)[1].strip()
                for line in sql.splitlines()
                if line.startswith("-- Question:")
            ),
            path.stem,
        )
        found.append(AnalystQuery(path.stem, question, sql))
    return found
