"""What ``proofstream demo`` shows of the non-SQL planes, read from their stores
after the worker stopped (the embedded stores allow one process at a time)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from rich.console import Console
from rich.table import Table

from proofstream.settings import Settings
from proofstream.text import iso_utc
from schemas.codec import EventCodec
from schemas.errors import DecodeError

__all__ = ["proof_gaps", "show_catalog", "show_identity", "show_lineage", "show_proof_gaps"]

_PREFIXES = """
PREFIX fo: <https://fractalops.io/ns/fo#>
PREFIX prov: <http://www.w3.org/ns/prov#>
"""


def proof_gaps(settings: Settings, codec: EventCodec, timeout_s: float = 5.0) -> list[Any]:
    """Every event on the proof-gap topic (read by explicit assignment, nothing committed)."""
    topic = settings.kafka.topics.proof_gaps
    consumer = Consumer(
        {**settings.kafka.client_config(), "group.id": "proofstream-demo", "log_level": "0"}
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p))[1] for p in partitions}
        wanted, events = sum(ends.values()), []
        seen = 0
        while seen < wanted:
            messages = consumer.consume(min(500, wanted - seen), timeout_s)
            if not messages:
                break
            for msg in messages:
                if msg.error() is None:
                    seen += 1
                    try:
                        events.append(codec.decode(msg.value() or b""))
                    except DecodeError:
                        continue
        return events
    finally:
        consumer.close()


def show_proof_gaps(console: Console, gaps: list[Any], expected: tuple[str, ...]) -> None:
    open_gaps = {g.pr_ref for g in gaps if g.event_type == "proof.gap.detected"} - {
        g.pr_ref for g in gaps if g.event_type == "proof.gap.closed"
    }
    table = Table("PR", "merged at", "window (s)", title="proof gaps (fractalops.proof-gaps.v1)")
    for gap in gaps:
        if gap.event_type == "proof.gap.detected" and gap.pr_ref in expected:
            table.add_row(gap.pr_ref, iso_utc(gap.merged_at), str(gap.window_seconds))
    console.print(table)
    missing = sorted(set(expected) - open_gaps)
    verdict = (
        "every PR merged without browser proof has an open gap"
        if not missing
        else (f"no gap yet for {missing}")
    )
    console.print(verdict)


def show_identity(console: Console, settings: Settings, run_id: str, pr_ref: str) -> None:
    from sinks.identity.store import RdfStore

    store = RdfStore.open(settings.rdf, settings.state_dir)
    try:
        agents = store.query(
            _PREFIXES
            + f"""SELECT DISTINCT ?agent ?role WHERE {{
                ?run a fo:RunAttempt ; fo:attemptOf ?r ; prov:wasAssociatedWith ?agent .
                ?r fo:key "{run_id}" . ?agent fo:role/fo:key ?role . }} ORDER BY ?role"""
        )
        proof = store.query(
            _PREFIXES
            + f"""SELECT ?evidence ?kind WHERE {{
                ?pr a fo:PullRequest ; fo:key "{pr_ref}" .
                ?evidence fo:proves ?pr ; fo:evidenceKind ?kind . }}"""
        )
        triples = sum(1 for _ in store.triples())
    finally:
        store.close()
    table = Table("agent", "role", title=f"RDF: which agents acted in {run_id}?")
    for agent, role in agents:
        table.add_row(str(agent), str(role))
    console.print(table)
    console.print(f"RDF: evidence proving {pr_ref}: {[f'{k} {e}' for e, k in proof] or 'none'}")
    console.print(f"RDF: {triples} identity triples in the store (no telemetry, no durations)")


def show_catalog(console: Console, settings: Settings) -> None:
    from sinks.catalog.export import lite_path, summarize
    from sinks.catalog.store import open_lite

    lite = open_lite(lite_path(settings.datahub, settings.state_dir), read_only=True)
    try:
        summary = summarize(lite)  # DataHub Lite's own reading: list_ids(), latest aspects
    finally:
        lite.close()
    table = Table("entity type", "entities (distinct URNs)", title="DataHub Lite catalog")
    for kind, count in summary.entities.items():
        table.add_row(kind, str(count))
    console.print(table)
    console.print(
        f"DataHub: {summary.total} entities (= list_ids()), {summary.aspects} latest aspects;"
        " export with `proofstream catalog export`"
    )


def show_lineage(console: Console, settings: Settings) -> None:
    from sinks.lineage.store import live_events_file
    from sinks.lineage.transports import read_events

    path = live_events_file(settings.openlineage, settings.state_dir)
    kinds = Counter(
        (e.get("eventType", "?"), e.get("job", {}).get("namespace", "?")) for e in read_events(path)
    )
    table = Table("eventType", "job namespace", "events", title=f"OpenLineage ({path.name})")
    for (kind, namespace), count in sorted(kinds.items()):
        table.add_row(kind, namespace, str(count))
    console.print(table)
