"""proofstream: the composition root (CLI, settings, dev-stack launcher)."""

__all__: list[str] = []
