"""Seed rules: pure checks the models run at construction, and the consumer's screen.

One rulebook, both sides. The producer runs these rules when a service author
builds a model; the consumer runs the *same* rules by decoding a record into its
model (:meth:`~schemas.codec.EventCodec.decode`). So that the consumer need not
decode every record in Python, :func:`needs_check` screens the still-encoded body
first and only a record it cannot clear is decoded and validated in full.

Each ``check_*`` function is a pydantic ``AfterValidator``: it returns the value
unchanged when the rule holds and raises :class:`ValueError` with the reason when
it does not. Pydantic attaches the field path; the model base translates the
resulting ``ValidationError`` into :class:`~schemas.errors.InvalidEventError`
naming it (``producer.workload_id``, ``attributes.note``, ``inputs[2].name``). A
reason never quotes the offending value: it may be a secret. Every function is
pure and idempotent.

**Credentials, in every string field** (free text, names, ids, attribute keys and
values, list items): a GitHub token (``ghp_``, ``gho_``, ``ghu_``, ``ghs_``,
``ghr_``, ``github_pat_``, not glued to a preceding letter or digit), an AWS access
key id (``AKIA``/``ASIA`` + 16 upper-case letters or digits), a PEM private-key
block (``-----BEGIN … PRIVATE KEY-----``) or a bearer JWT (three base64url
segments whose first starts ``eyJ`` and decodes to a JSON object, the way every
JOSE library writes a header, not glued to a preceding base64url character) is
refused anywhere in the string. Secrets come
from OpenBao; agents act through the GitHub App, never with a token in an event.
Digest, UUID and enum fields cannot hold one (their formats are checked).

**Raw IP addresses, in every identity-bearing field**: a field that names who
acted or an entity the event is about or points at; the projections key RDF
IRIs, DataHub URNs and OpenLineage names on them, so an IP there would make a
network location an identity. Per event type (``IDENTITY_FIELDS``):

* every type: ``producer.service``, ``producer.workload_id``, ``actor.id``,
  ``actor.role``, ``subject.project``, ``subject.repository``, ``subject.run_id``;
* ``run.started``: ``parent_run_id``; ``agent.handoff``: ``from_role``, ``to_role``;
* ``tool.invoked``: ``mcp_server``, ``tool``;
* ``workspace.leased|released``: ``workspace_id``, ``lease_id``;
  ``browser.leased|released``: ``browser_id``, ``lease_id``;
* GitHub writes (``issue.opened``, ``pr.opened|reviewed|merged``):
  ``delivery_identity``, ``webhook_delivery_id`` and the refs ``issue_ref``,
  ``pr_ref``, ``head_sha``, ``base_ref``, ``commit_sha``, ``merge_sha``;
* ``proposal.submitted|decided``: ``proposal_id``;
  ``evidence.recorded``: ``proves``, ``uri``; ``proof.closed``: ``proves``;
  ``knowledge.asset.updated``: ``asset_ref``;
  ``lineage.declared``: ``inputs[].name``, ``outputs[].name``;
  ``proof.gap.detected|closed``: ``pr_ref``, ``repository``.

Not identity-bearing: free text (goal, title, reason, summary), ``producer.version``,
``media_type``, trace context, attributes, digests. An identity is refused when,
after splitting it on whitespace, any of these *is* an IP address, network or
address with port, as ``ipaddress`` parses them: the whole token, the host of the
token read as a URI (``urllib.parse``: ``tcp://[2001:db8::1]:8443``,
``spiffe://10.0.0.1/x``, ``http://user@10.0.0.1``), any ``/``-separated segment
(``10.0.0.1/32``, ``spiffe://td/ns/10.0.0.1``), after a ``user@`` part, in
brackets (``[::1]:443``), or any ``:``-separated IPv4 field (``10.0.0.1:8080``,
``urn:ip:10.0.0.1``). IPv4-mapped IPv6 and zone ids count. Not recognised: what
``ipaddress`` does not parse (integer or hex addresses, leading-zero octets) and
percent-encoded hosts.

**Limits** (documented here once, used by the models, the codec and the producer):

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
digests and refs. Digests are 64 lowercase hex characters (a bare SHA-256).

**The screen** (:func:`needs_check`). Its contract: ``False`` guarantees that no
*seed rule* can refuse the event: no raw IP as identity, no credential, agents
deliver through the GitHub App, no string over 4 KiB or attribute value over
1 KiB, no list over 64 items (the event cap is checked on every record by
:meth:`~schemas.codec.EventCodec.header`). Why it holds:

1. every rule that refuses a string by its shape first requires one of the
   ``_IP_SHAPES`` or ``_CREDENTIAL_SHAPES`` patterns to match it (the gate of
   :func:`raw_ip_in` and :func:`credential_in`), and the screen searches the body
   for the same patterns. Avro writes strings as raw UTF-8, contiguous in the body, and
   the patterns are ASCII, so a match in a string is a match in the body;
2. a body of at most ``SCREEN_MAX_BODY_BYTES`` (1 KiB) cannot hold a longer string;
3. rules that depend on several fields (GitHub writes) or count list items are
   not visible in bytes: their event types are in ``ALWAYS_CHECKED``.

Not screened: the attribute entry count and key size (the map cannot be found
without decoding; bounding them by body size would check every event) and the
models' type rules (UUID and digest syntax, non-empty names, integer ranges).
The producer enforces them, and so does the consumer whenever it decodes a
record into its model; a screened-out record may break them.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import TypeVar
from urllib.parse import urlsplit

__all__ = [
    "ALWAYS_CHECKED",
    "IDENTITY_FIELDS",
    "MAX_ATTRIBUTES",
    "MAX_ATTRIBUTE_KEY_BYTES",
    "MAX_ATTRIBUTE_VALUE_BYTES",
    "MAX_EVENT_BYTES",
    "MAX_LIST_ITEMS",
    "MAX_TEXT_BYTES",
    "SCREEN_MAX_BODY_BYTES",
    "TOKEN_PREFIXES",
    "check_attribute_key",
    "check_attribute_value",
    "check_attributes",
    "check_bot_login",
    "check_identity",
    "check_list",
    "check_no_credential",
    "check_sha256",
    "check_text",
    "credential_in",
    "needs_check",
    "raw_ip_in",
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

_ENVELOPE_IDENTITIES = (
    "producer.service",
    "producer.workload_id",
    "actor.id",
    "actor.role",
    "subject.project",
    "subject.repository",
    "subject.run_id",
)
_GITHUB_WRITE = ("delivery_identity", "webhook_delivery_id")
_PAYLOAD_IDENTITIES: dict[str, tuple[str, ...]] = {
    "run.started": ("parent_run_id",),
    "run.finished": (),
    "agent.handoff": ("from_role", "to_role"),
    "tool.invoked": ("mcp_server", "tool"),
    "workspace.leased": ("workspace_id", "lease_id"),
    "workspace.released": ("workspace_id", "lease_id"),
    "browser.leased": ("browser_id", "lease_id"),
    "browser.released": ("browser_id", "lease_id"),
    "issue.opened": (*_GITHUB_WRITE, "issue_ref"),
    "pr.opened": (*_GITHUB_WRITE, "pr_ref", "head_sha", "base_ref"),
    "pr.reviewed": (*_GITHUB_WRITE, "pr_ref", "commit_sha"),
    "pr.merged": (*_GITHUB_WRITE, "pr_ref", "merge_sha"),
    "proposal.submitted": ("proposal_id",),
    "proposal.decided": ("proposal_id",),
    "evidence.recorded": ("proves", "uri"),
    "proof.closed": ("proves",),
    "knowledge.asset.updated": ("asset_ref",),
    "lineage.declared": ("inputs[].name", "outputs[].name"),
    "proof.gap.detected": ("pr_ref", "repository"),
    "proof.gap.closed": ("pr_ref", "repository"),
}
IDENTITY_FIELDS: Mapping[str, frozenset[str]] = MappingProxyType(
    {et: frozenset(_ENVELOPE_IDENTITIES + own) for et, own in _PAYLOAD_IDENTITIES.items()}
)
"""Event type → dotted paths of its identity-bearing fields (``[]``: every list item).
The models apply :func:`check_identity` to exactly these (a test pins it)."""

ALWAYS_CHECKED = frozenset(
    {"issue.opened", "pr.opened", "pr.reviewed", "pr.merged", "lineage.declared", "proof.closed"}
)
"""Event types the screen never clears: GitHub writes (an agent must deliver
through the App: a rule over several fields) and types with list fields (an item
count is not visible in bytes)."""

SCREEN_MAX_BODY_BYTES = MAX_ATTRIBUTE_VALUE_BYTES
"""A longer body may hold a string over a screened limit: it is always checked."""

# The shapes every string rule starts from, as ASCII byte patterns. Each precise
# check below runs only on a string one of them matches, and the screen searches
# encoded bodies for the same patterns: that is what makes the screen a superset.
_IP_SHAPES = (
    rb"\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]",  # the last three dots of any dotted IPv4 quad
    rb":[0-9A-Fa-f]{0,4}:",  # two colons around at most one hextet: every IPv6 text
)
_CREDENTIAL_SHAPES = (
    rb"gh[pousr]_|github_pat_",
    rb"A[KS]IA[0-9A-Z]{16}",
    rb"-----BEGIN",
    rb"eyJ",  # base64 of '{"', the start of every JOSE header
)
_SCREEN = re.compile(b"|".join(_IP_SHAPES + _CREDENTIAL_SHAPES))
_IP_GATE = re.compile(b"|".join(_IP_SHAPES).decode())
_CREDENTIAL_GATE = re.compile(b"|".join(_CREDENTIAL_SHAPES).decode())

_GITHUB_TOKEN = re.compile(r"(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]|github_pat_[A-Za-z0-9_])")
_AWS_KEY_ID = re.compile(r"A[KS]IA[0-9A-Z]{16}")
_PEM_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
# A header starts a base64url run: one candidate per run keeps a hostile string of
# 'eyJeyJeyJ…' linear (trying every 'eyJ' would decode the rest of the run each time).
_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]*+(?=\.[A-Za-z0-9_-]*+\.)")

_SHA256 = re.compile(r"[0-9a-f]{64}")

T = TypeVar("T")


def _utf8_len_exceeds(value: str, limit: int) -> bool:
    # A code point is at most 4 UTF-8 bytes: short strings need no encode() call.
    return len(value) * 4 > limit and len(value.encode("utf-8")) > limit


def _json_header(segment: str) -> bool:
    try:
        decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        return isinstance(json.loads(decoded), dict)
    except (binascii.Error, ValueError, RecursionError):  # ValueError: JSON, UTF-8
        return False


def credential_in(value: str) -> str | None:
    """What credential ``value`` holds anywhere in it (``"a GitHub token"``, ``"an
    AWS access key id"``, ``"a PEM private key"``, ``"a bearer JWT"``), or ``None``."""
    if _CREDENTIAL_GATE.search(value) is None:
        return None
    if _GITHUB_TOKEN.search(value):
        return "a GitHub token"
    if _AWS_KEY_ID.search(value):
        return "an AWS access key id"
    if _PEM_PRIVATE_KEY.search(value):
        return "a PEM private key"
    if any(_json_header(m.group()) for m in _JWT.finditer(value)):
        return "a bearer JWT"
    return None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _ip_part(part: str) -> bool:
    # an address, [v6], [v6]:port, v4:port, user@any-of-these, urn:...:v4
    host = part.rpartition("@")[2]
    if host.startswith("["):
        return _is_ip(host[1:].partition("]")[0])
    return _is_ip(host) or any(_is_ipv4(f) for f in host.split(":") if "." in f)


def _ip_token(token: str) -> bool:
    parts = token.split("/")  # a CIDR's address, URI and SPIFFE path segments
    try:
        host = urlsplit(token).hostname  # brackets, user info and port removed
    except ValueError:  # an invalid bracketed host: then it is no IP either
        host = None
    if host:
        parts.append(host)
    return any(_ip_part(part) for part in parts if part)


def raw_ip_in(value: str) -> bool:
    """Whether ``value`` is, or names as a host or path segment, a raw IP address
    (the forms in the module docstring). Pure."""
    if _IP_GATE.search(value) is None:
        return False
    return any(_ip_token(token) for token in value.split())


def _credential_reason(found: str) -> str:
    if found == "a GitHub token":
        return f"looks like {found}: agents act through the GitHub App, tokens never go in events"
    return f"looks like {found}: credentials come from OpenBao, never from events"


def check_no_credential(value: str) -> str:
    """Reject a string holding a credential anywhere (see the module docstring)."""
    found = credential_in(value)
    if found is not None:
        raise ValueError(_credential_reason(found))
    return value


def check_text(value: str) -> str:
    """Any string field: at most ``MAX_TEXT_BYTES`` of UTF-8, and no credential."""
    if _utf8_len_exceeds(value, MAX_TEXT_BYTES):
        raise ValueError(f"longer than {MAX_TEXT_BYTES} bytes: send a digest or a ref instead")
    return check_no_credential(value)


def check_identity(value: str) -> str:
    """An identity-bearing field: :func:`check_text`, and never a raw IP address.

    A SPIFFE ID (``spiffe://trust-domain/path``), a DNS name or a runtime asset id
    is expected: an IP address names a network location, not who acted or what.
    """
    check_text(value)
    if raw_ip_in(value):
        raise ValueError(
            "a raw IP address is not an identity: use a SPIFFE ID, a DNS name or a runtime id"
        )
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


def check_attribute_key(key: str) -> str:
    """An ``attributes`` key: at most ``MAX_ATTRIBUTE_KEY_BYTES``, no credential.
    The model names the map, never the key (it may be the secret)."""
    if _utf8_len_exceeds(key, MAX_ATTRIBUTE_KEY_BYTES):
        raise ValueError(f"a key is longer than {MAX_ATTRIBUTE_KEY_BYTES} bytes")
    found = credential_in(key)
    if found is not None:
        raise ValueError(f"a key {_credential_reason(found)}")
    return key


def check_attribute_value(value: str) -> str:
    """An ``attributes`` value: at most ``MAX_ATTRIBUTE_VALUE_BYTES``, no credential."""
    if _utf8_len_exceeds(value, MAX_ATTRIBUTE_VALUE_BYTES):
        raise ValueError(f"longer than {MAX_ATTRIBUTE_VALUE_BYTES} bytes")
    return check_no_credential(value)


def check_attributes(value: Mapping[str, str]) -> Mapping[str, str]:
    """Bound the number of ``attributes`` entries (keys and values are checked one
    by one by :func:`check_attribute_key` and :func:`check_attribute_value`)."""
    if len(value) > MAX_ATTRIBUTES:
        raise ValueError(f"more than {MAX_ATTRIBUTES} entries")
    return value


def check_list(value: list[T]) -> list[T]:
    """Bound a list field to ``MAX_LIST_ITEMS`` items (refs and digests, never a graph)."""
    if len(value) > MAX_LIST_ITEMS:
        raise ValueError(f"more than {MAX_LIST_ITEMS} items: declare refs in several events")
    return value


def needs_check(event_type: str, body: bytes) -> bool:
    """Whether an encoded event body must be validated in full before it may be
    applied. Pure and cheap: one regular-expression scan, no decoding.

    ``False`` guarantees that no seed rule can refuse the event (the contract and
    its proof are in the module docstring); ``True`` means "decode it into its
    model and let the validators decide", not that the event is invalid.
    """
    return (
        event_type in ALWAYS_CHECKED
        or len(body) > SCREEN_MAX_BODY_BYTES
        or _SCREEN.search(body) is not None
    )
