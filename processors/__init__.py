"""processors package."""

__all__: list[str] = []
