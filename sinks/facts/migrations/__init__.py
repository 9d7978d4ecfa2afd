"""Versioned ClickHouse migrations of the facts plane, shipped as package data.

``NNNN_name.sql`` files are applied in order by :mod:`sinks.clickhouse` and
recorded in ``schema_migrations``; each statement is idempotent (``IF NOT
EXISTS``) and statements are separated by a ``;`` at the end of a line. A
released file never changes: add a new one instead.
"""

__all__: list[str] = []
