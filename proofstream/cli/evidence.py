"""``proofstream evidence put | verify | audit | info | migrate``: Chronicle on the command line.

``verify`` and ``audit`` read only the log's static files (``checkpoint``,
``checkpoints/``, ``tile/``) under ``--log`` (default: the live generation under
the Chronicle root), so they work the same on a mirror or a copied directory.
They trust one key: ``--vkey`` (a C2SP verifier key), else the pinned
``public_key_file``, else the public half of the local signing key.

Exit codes: 0 verified, 1 verification failed (printed loudly on stderr; with
``--json`` the report says ``"verified": false`` / ``"consistent": false`` and
``"error"``), 2 an operational error (unknown digest, no log, bad configuration).
The ``--json`` shapes are documented in ``docs/evidence-tlog.md``.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from proofstream.cli.common import console, console_error, settings_of
from proofstream.settings import Settings
from proofstream.text import plural
from schemas.errors import ConfigError, SinkUnavailableError
from sinks.directories import live_dir
from sinks.evidence import (
    ArtifactNotFoundError,
    LedgerIntegrityError,
    TamperedArtifactError,
    check_digest,
)
from sinks.evidence.artifacts import ArtifactStore
from sinks.evidence.index import LedgerIndex
from sinks.evidence.ledger import INDEX
from sinks.evidence.signing import Checkpoint, NoteKey, load_public_key, log_keys
from sinks.evidence.verify import LogVerifier, SignedCheckpoint

__all__ = ["app"]

app = typer.Typer(
    help="Chronicle: write-once evidence artifacts and their transparency log.",
    no_args_is_help=True,
)

LogOption = Annotated[
    Path | None,
    typer.Option("--log", help="Log directory to check (default: the live one).", file_okay=False),
]
VkeyOption = Annotated[
    str | None, typer.Option("--vkey", help="Trust this verifier key (name+hash+base64).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print a JSON report on stdout.")]


def _say(text: str) -> None:
    # long hashes and keys are printed whole, never wrapped: they are copied and pasted
    console.print(text, highlight=False, soft_wrap=True)


def _iso(us: int | None) -> str | None:
    if us is None:
        return None
    moment = datetime.fromtimestamp(us / 1_000_000, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _log_dir(settings: Settings, log: Path | None) -> Path:
    return log or live_dir(settings.chronicle.resolve_root(settings.state_dir))


def _trusted_key(settings: Settings, vkey: str | None) -> NoteKey:
    chronicle = settings.chronicle
    if vkey:
        return NoteKey.parse(vkey)
    if chronicle.public_key_file:
        return NoteKey(chronicle.origin, load_public_key(chronicle.public_key_file))
    return log_keys(chronicle, settings.state_dir, create=False).trusted


def _verifier(settings: Settings, log: Path | None, vkey: str | None) -> LogVerifier:
    directory = _log_dir(settings, log)
    key = _trusted_key(settings, vkey)
    if not (directory / "checkpoint").is_file():
        hint = ""
        if (directory / INDEX).is_file():
            hint = " (a ledger in the pre-tlog format? run `proofstream evidence migrate`)"
        raise ConfigError(f"no transparency log checkpoint under {directory}{hint}")
    return LogVerifier(directory, key, key.name if vkey else settings.chronicle.origin)


def _signed_at(directory: Path, size: int) -> str | None:
    """When the log says it signed the checkpoint of ``size`` (its index's record,
    not part of the signature); None on a bare copy of the static files."""
    try:
        index = LedgerIndex(directory / INDEX)
    except (ConfigError, SinkUnavailableError):
        return None
    try:
        return next((_iso(r.signed_at_us) for r in index.checkpoints() if r.size == size), None)
    except SinkUnavailableError:
        return None
    finally:
        index.close()


def _checkpoint_json(cp: Checkpoint, key: str, signed_at: str | None) -> dict[str, Any]:
    return {
        "origin": cp.origin,
        "tree_size": cp.size,
        "root_hash": base64.b64encode(cp.root).decode(),
        "root_hex": cp.root.hex(),
        "key": key,
        "signed_at": signed_at,
    }


def _emit(report: dict[str, Any]) -> None:
    typer.echo(json.dumps(report, indent=2))


def _failed(as_json: bool, report: dict[str, Any], exc: Exception) -> typer.Exit:
    if as_json:
        _emit({**report, "error": str(exc)})
    console_error(f"VERIFICATION FAILED: {exc}")
    return typer.Exit(1)


@app.command()
def put(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Store FILE in Chronicle (write-once, content-addressed) and print its sha256.

    Idempotent: storing the same bytes again prints the same digest.
    """
    settings = settings_of(ctx)
    store = ArtifactStore.open(settings.chronicle, settings.state_dir)
    typer.echo(store.put(file.read_bytes()))


@app.command()
def verify(
    ctx: typer.Context,
    sha256: Annotated[str, typer.Argument(help="SHA-256 (hex) of the evidence artifact.")],
    log: LogOption = None,
    vkey: VkeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Prove the evidence SHA256 is in the log under its current signed checkpoint.

    Verifies the checkpoint's signature, finds the artifact's leaves in the entry
    bundles, re-hashes each and checks its RFC 9162 inclusion proof (built from the
    tiles) against the signed root; re-hashes the artifact when it is stored
    locally. Exit 0 when everything verifies, 1 when not.
    """
    settings = settings_of(ctx)
    check_digest(sha256)
    report: dict[str, Any] = {"sha256": sha256, "verified": False, "artifact": None}
    report |= {"checkpoint": None, "entries": None, "error": None}
    store = ArtifactStore.open(settings.chronicle, settings.state_dir)
    try:
        path = store.verify(sha256)
        report["artifact"] = {"status": "verified", "path": str(path)}
    except ArtifactNotFoundError:
        report["artifact"] = {"status": "not_stored", "path": None}
    except TamperedArtifactError as exc:
        report["artifact"] = {"status": "tampered", "path": str(exc.path)}
        raise _failed(as_json, report, exc) from exc
    verifier = _verifier(settings, log, vkey)
    try:
        signed = verifier.latest()
        cp = signed.checkpoint
        key = f"{verifier.key.name}+{verifier.key.key_id.hex()}"
        report["checkpoint"] = _checkpoint_json(cp, key, _signed_at(verifier.directory, cp.size))
        indexes = verifier.find(sha256, cp)
        if not indexes:
            raise ConfigError(f"sha256:{sha256} is not recorded in the log (size {cp.size})")
        checks = [verifier.prove_inclusion(index, cp) for index in indexes]
        if any(check.leaf.sha256 != sha256 for check in checks):
            raise LedgerIntegrityError(f"a leaf found for {sha256} records another digest")
    except LedgerIntegrityError as exc:
        raise _failed(as_json, report, exc) from exc
    report["entries"] = [
        {
            "leaf_index": c.index,
            "event_id": c.leaf.event_id,
            "kind": c.leaf.kind,
            "proves": c.leaf.proves,
            "leaf_hash": c.leaf_hash.hex(),
            "audit_path": [node.hex() for node in c.path],
        }
        for c in checks
    ]
    report["verified"] = True
    if as_json:
        _emit(report)
        return
    _print_verified(report)


def _print_verified(report: dict[str, Any]) -> None:
    artifact = report["artifact"]
    if artifact["status"] == "verified":
        _say(f"artifact   {artifact['path']}  (sha256 verified, read-only)")
    else:
        _say("artifact   not stored in this Chronicle (log checked only)")
    cp = report["checkpoint"]
    signed = f"  signed at {cp['signed_at']}" if cp["signed_at"] else ""
    _say(
        f"checkpoint {cp['origin']}  size {cp['tree_size']}  root {cp['root_hash']}\n"
        f"           key {cp['key']}{signed}"
    )
    for entry in report["entries"]:
        _say(
            f"leaf       {entry['leaf_index']}  event {entry['event_id']}  kind {entry['kind']}"
            f"  proves {entry['proves']}\nleaf hash  {entry['leaf_hash']}"
        )
        for depth, node in enumerate(entry["audit_path"]):
            _say(f"path[{depth}]{' ' * max(1, 4 - len(str(depth)))}{node}")
    count = plural(len(report["entries"]), "ledger entry", "ledger entries")
    _say(f"[bold green]verified[/bold green] {count}")


def _seen_file(settings: Settings, key: NoteKey) -> Path:
    safe = "".join(c if c.isalnum() or c in "-." else "_" for c in key.name)
    return settings.state_dir.resolve() / "evidence-audit" / f"{safe}-{key.key_id.hex()}.checkpoint"


@app.command()
def audit(  # noqa: PLR0917 - Typer maps each parameter to an option
    ctx: typer.Context,
    from_size: Annotated[
        int | None, typer.Option("--from", help="Size of a prior published checkpoint.")
    ] = None,
    to_size: Annotated[
        int | None, typer.Option("--to", help="Size of a later published checkpoint.")
    ] = None,
    seen: Annotated[
        Path | None,
        typer.Option(help="Where this auditor keeps the last checkpoint it verified."),
    ] = None,
    deep: Annotated[
        bool, typer.Option(help="Also re-hash every entry and rebuild every tile.")
    ] = False,
    log: LogOption = None,
    vkey: VkeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check the log is append-only: a consistency proof between two checkpoints.

    By default the log's current checkpoint is checked against the last one this
    auditor saw (kept in --seen, default <state_dir>/evidence-audit/): a smaller
    tree, another root at the same size or a failed proof is a FORK. On success the
    current checkpoint becomes the one seen (the first audit trusts it on first
    use). With --from/--to, two checkpoints the log published are compared instead
    (--to defaults to the current one). Exit 0 when consistent, 1 when not.
    """
    settings = settings_of(ctx)
    verifier = _verifier(settings, log, vkey)
    seen_file = seen or _seen_file(settings, verifier.key)
    ranged = from_size is not None or to_size is not None
    report: dict[str, Any] = {
        "consistent": False,
        "log": str(verifier.directory),
        "mode": "range" if ranged else "seen",
        "seen_file": None if ranged else str(seen_file),
        "prior": None,
        "later": None,
        "proof": None,
        "deep": None,
        "error": None,
    }
    key = f"{verifier.key.name}+{verifier.key.key_id.hex()}"
    try:
        later = verifier.at(to_size) if to_size is not None else verifier.latest()
        prior: SignedCheckpoint | None
        if ranged:
            prior = verifier.at(from_size) if from_size is not None else verifier.latest()
        else:
            prior = verifier.parse(seen_file.read_bytes()) if seen_file.is_file() else None
        report["later"] = _checkpoint_json(later.checkpoint, key, None)
        report["prior"] = prior and _checkpoint_json(prior.checkpoint, key, None)
        proof: tuple[bytes, ...] = ()
        if prior is not None:
            proof = verifier.prove_consistency(prior.checkpoint, later.checkpoint).path
        report["proof"] = [node.hex() for node in proof]
        report["deep"] = {"leaves": verifier.audit_tiles(later.checkpoint)} if deep else None
    except LedgerIntegrityError as exc:
        raise _failed(as_json, report, exc) from exc
    if not ranged:
        seen_file.parent.mkdir(parents=True, exist_ok=True)
        seen_file.write_bytes(later.note)
    report["consistent"] = True
    if as_json:
        _emit(report)
        return
    _print_consistent(report)


def _print_consistent(report: dict[str, Any]) -> None:
    later, prior = report["later"], report["prior"]
    if prior is None:
        _say(
            f"first audit: trusting the checkpoint of size {later['tree_size']} "
            f"(recorded in {report['seen_file']})"
        )
    else:
        _say(f"prior      size {prior['tree_size']}  root {prior['root_hash']}")
    _say(f"later      size {later['tree_size']}  root {later['root_hash']}")
    _say(f"proof      {plural(len(report['proof']), 'hash', 'hashes')}")
    if report["deep"]:
        leaves = plural(report["deep"]["leaves"], "leaf", "leaves")
        _say(f"tiles      {leaves} re-hashed, every tile and the root rebuilt")
    _say("[bold green]consistent[/bold green]")


@app.command()
def info(ctx: typer.Context, log: LogOption = None, as_json: JsonOption = False) -> None:
    """Print where the live log is (the directory to serve), its origin, the
    verifier key to hand to verifiers, and its current checkpoint."""
    settings = settings_of(ctx)
    directory = _log_dir(settings, log)
    key = _trusted_key(settings, None)
    checkpoint = None
    if (directory / "checkpoint").is_file():
        signed = LogVerifier(directory, key, settings.chronicle.origin).latest()
        size = signed.checkpoint.size
        checkpoint = _checkpoint_json(
            signed.checkpoint, f"{key.name}+{key.key_id.hex()}", _signed_at(directory, size)
        )
    report = {"log": str(directory), "origin": key.name, "vkey": key.vkey, "checkpoint": checkpoint}
    if as_json:
        _emit(report)
        return
    _say(f"log        {directory}\norigin     {key.name}\nvkey       {key.vkey}")
    if checkpoint:
        _say(f"checkpoint size {checkpoint['tree_size']}  root {checkpoint['root_hash']}")
    else:
        _say("checkpoint none yet (nothing recorded)")


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Rewrite a ledger kept in the pre-tlog format (pymerkle SQLite, our old signed
    heads) as tiles and checkpoints, once: its heads become checkpoints of the same
    sizes and roots. The evidence plane does it too when it opens the store; stop
    the worker first (one writer per log). Refuses a ledger whose history does not
    verify (exit 1)."""
    from sinks.evidence.store import EvidenceStore

    settings = settings_of(ctx)
    try:
        store = EvidenceStore.open_live(settings.chronicle, settings.state_dir)
    except LedgerIntegrityError as exc:
        raise _failed(False, {}, exc) from exc
    try:
        latest = store.ledger.latest()
    finally:
        store.close()
    size = latest.size if latest else 0
    _say(f"log is in the tlog-tiles format: {plural(size, 'leaf', 'leaves')}")
