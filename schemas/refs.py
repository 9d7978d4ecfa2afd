"""GitHub references in events: which issue a pull request closes.

Events carry no dedicated link field, so the rule is: an explicit
``attributes["issue_ref"]`` wins; else the first GitHub closing keyword in the PR
title (``Fixes #12``, ``closes owner/name#12``), a bare ``#12`` resolved against
the PR's repository. The facts plane evaluates the same rule in ClickHouse
(``sinks.facts.views``); a test holds the two to the same answers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["CLOSING_KEYWORDS", "closes_issue_ref"]

CLOSING_KEYWORDS = re.compile(
    r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?):?\s+([\w.-]+/[\w.-]+)?#(\d+)", re.IGNORECASE
)


def closes_issue_ref(
    attributes: Mapping[str, str] | None, title: str | None, repository: str | None
) -> str | None:
    """The issue a pull request closes, as ``owner/name#number``, or ``None``. Pure."""
    if attributes and attributes.get("issue_ref"):
        return attributes["issue_ref"]
    if not title:
        return None
    match = CLOSING_KEYWORDS.search(title)
    if match is None:
        return None
    repo = match.group(1) or repository
    return f"{repo}#{match.group(2)}" if repo else None
