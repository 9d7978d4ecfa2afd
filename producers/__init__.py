"""producers package."""

__all__: list[str] = []
