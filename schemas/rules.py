"""Seed rules, as pure checks the models run at construction time.

Each ``check_*`` function is a pydantic ``AfterValidator``: it returns the value
unchanged when the rule holds and raises :class:`ValueError` with the reason when
it does not. Pydantic attaches the field path; the model base translates the
resulting ``ValidationError`` into :class:`~schemas.errors.InvalidEventError`
naming that path (``producer.workload_id``). Every function is pure and
idempotent.

Limits (documented here once, used by the models and the codec):

* a string field holds at most ``MAX_TEXT_BYTES`` (4 KiB) of UTF-8;
* ``attributes`` holds at most ``MAX_ATTRIBUTES`` (32) entries, keys at most
  ``MAX_ATTRIBUTE_KEY_BYTES`` (256 B), values at most ``MAX_ATTRIBUTE_VALUE_BYTES`` (1 KiB);
* a list field holds at most ``MAX_LIST_ITEMS`` (64) items;
* an event, as single-object bytes on the wire, holds at most ``MAX_EVENT_BYTES``
  (64 KiB): the codec's encode cap, the decoder's input cap and the producer's
  ``max_event_bytes`` (which may only be lower). 64 KiB is what the README
  promises, over 150 times the largest demo event (~410 B) and far below Kafka's
  1 MB default ``message.max.bytes``, so byte-bounded batches stay predictable;
  anything near it is a blob, which belongs in the evidence store.

Together they keep graph snapshots and blobs out of events: an event carries
digests and refs, the blob goes to the evidence store.

Digests are 64 lowercase hex characters (a bare SHA-256), the same form the
content-addressed evidence store uses for file names; no ``sha256:`` prefix.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import TypeVar

__all__ = [
    "ALWAYS_CHECKED",
    "MAX_ATTRIBUTES",
    "MAX_ATTRIBUTE_KEY_BYTES",
    "MAX_ATTRIBUTE_VALUE_BYTES",
    "MAX_EVENT_BYTES",
    "MAX_LIST_ITEMS",
    "MAX_TEXT_BYTES",
    "TOKEN_PREFIXES",
    "check_attributes",
    "check_bot_login",
    "check_identity",
    "check_list",
    "check_not_token",
    "check_sha256",
    "check_text",
    "needs_check",
]

MAX_TEXT_BYTES = 4096
MAX_ATTRIBUTES = 32
MAX_ATTRIBUTE_KEY_BYTES = 256
MAX_ATTRIBUTE_VALUE_BYTES = 1024
MAX_LIST_ITEMS = 64
MAX_EVENT_BYTES = 64 * 1024
"""The one size limit of an event: its single-object bytes, on both sides."""

# GitHub token prefixes: personal (ghp_, github_pat_), OAuth (gho_), user-to-server
# (ghu_), server-to-server (ghs_) and refresh (ghr_) tokens. A token is a secret and
# a PAT is a human's identity; neither belongs in an event.
TOKEN_PREFIXES = ("ghp_", "github_pat_", "gho_", "ghu_", "ghs_", "ghr_")

_SHA256 = re.compile(r"[0-9a-f]{64}")
_HOST_PORT = re.compile(r"^\[?(?P<host>[0-9A-Fa-f:.%a-zA-Z]+?)\]?(?::\d{1,5})?$")

T = TypeVar("T")


def _utf8_len_exceeds(value: str, limit: int) -> bool:
    # A code point is at most 4 UTF-8 bytes: short strings need no encode() call.
    return len(value) * 4 > limit and len(value.encode("utf-8")) > limit


def check_text(value: str) -> str:
    """Reject a string longer than ``MAX_TEXT_BYTES`` of UTF-8."""
    if _utf8_len_exceeds(value, MAX_TEXT_BYTES):
        raise ValueError(f"longer than {MAX_TEXT_BYTES} bytes: send a digest or a ref instead")
    return value


def _is_raw_ip(value: str) -> bool:
    candidates = [value]
    match = _HOST_PORT.match(value)
    if match:
        candidates.append(match.group("host"))
    for candidate in candidates:
        try:
            ipaddress.ip_address(candidate)
        except ValueError:
            continue
        return True
    return False


def check_identity(value: str) -> str:
    """Reject a raw IPv4/IPv6 address (with or without port) as a workload or actor id.

    A SPIFFE ID (``spiffe://trust-domain/path``) or a runtime asset id is expected:
    an IP address names a network location, not who acted.
    """
    if _is_raw_ip(value.strip()):
        raise ValueError("a raw IP address is not an identity: use a SPIFFE ID or runtime id")
    return check_not_token(check_text(value))


def check_not_token(value: str) -> str:
    """Reject a value that looks like a GitHub token (``ghp_…``, ``github_pat_…``, ...)."""
    if value.startswith(TOKEN_PREFIXES):
        raise ValueError("looks like a GitHub token; tokens and PATs never go into events")
    return value


def check_bot_login(value: str) -> str:
    """Require the GitHub App bot login form ``<app-slug>[bot]``.

    Used for an agent's delivery identity: agents write to GitHub through the App,
    never through a human's account or PAT.
    """
    if not value.endswith("[bot]") or len(value) <= len("[bot]"):
        raise ValueError("an agent delivers through the GitHub App: expected '<app-slug>[bot]'")
    return value


def check_sha256(value: str) -> str:
    """Require a SHA-256 digest as 64 lowercase hex characters."""
    if not _SHA256.fullmatch(value):
        raise ValueError("expected a SHA-256 digest: 64 lowercase hex characters")
    return value


def check_attributes(value: Mapping[str, str]) -> Mapping[str, str]:
    """Bound the free-form ``attributes`` map (entry count, key and value sizes)."""
    if len(value) > MAX_ATTRIBUTES:
        raise ValueError(f"more than {MAX_ATTRIBUTES} entries")
    for key, item in value.items():
        if _utf8_len_exceeds(key, MAX_ATTRIBUTE_KEY_BYTES):
            raise ValueError(f"key {key[:32]!r}… longer than {MAX_ATTRIBUTE_KEY_BYTES} bytes")
        if _utf8_len_exceeds(item, MAX_ATTRIBUTE_VALUE_BYTES):
            raise ValueError(f"value of {key!r} longer than {MAX_ATTRIBUTE_VALUE_BYTES} bytes")
    return value


def check_list(value: list[T]) -> list[T]:
    """Bound a list field to ``MAX_LIST_ITEMS`` items (refs and digests, never a graph)."""
    if len(value) > MAX_LIST_ITEMS:
        raise ValueError(f"more than {MAX_LIST_ITEMS} items: declare refs in several events")
    return value


# --- the consumer-side screen -------------------------------------------------------

# Byte patterns of everything a seed rule refuses by its shape: a dotted IPv4 quad,
# two colons around hex digits (every IPv6 form), the GitHub token prefixes, AWS
# access key ids, PEM private-key blocks and JWTs ("eyJ" is base64 of '{"').
_SUSPECT = re.compile(
    rb"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"
    rb"|[0-9A-Fa-f]*:[0-9A-Fa-f]*:"
    rb"|gh[pousr]_|github_pat_"
    rb"|A[KS]IA[0-9A-Z]{12}"
    rb"|-----BEGIN"
    rb"|eyJ[A-Za-z0-9_-]{8}"
)

ALWAYS_CHECKED = frozenset({"issue.opened", "pr.opened", "pr.reviewed", "pr.merged"})
"""Event types whose rules depend on several fields (an agent delivers through the
GitHub App): the consumer side always validates them in full."""


def needs_check(event_type: str, body: bytes) -> bool:
    """Whether an encoded event body must be validated in full before it may be
    applied. Pure and cheap (one regular-expression scan, no decoding).

    ``False`` guarantees that no seed rule can refuse the event: its body holds
    nothing shaped like an IP address or a credential, and it is too small for
    any field to exceed its size limit. Avro strings are stored as raw UTF-8, so a
    scan of the body sees every string field.
    """
    return (
        event_type in ALWAYS_CHECKED
        or len(body) > MAX_ATTRIBUTE_VALUE_BYTES
        or _SUSPECT.search(body) is not None
    )
