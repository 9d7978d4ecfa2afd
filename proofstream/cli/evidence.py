"""``proofstream evidence put | verify | audit``: Chronicle on the command line.

Exit codes: 0 verified, 1 verification failed (printed loudly on stderr),
2 an operational error (unknown digest, no ledger, bad configuration).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from proofstream.cli.common import console, console_error, settings_of
from schemas.errors import ConfigError
from sinks.chronicle import (
    ArtifactNotFoundError,
    ArtifactStore,
    ChronicleError,
    ChronicleSettings,
    LedgerIntegrityError,
    TamperedArtifactError,
    check_digest,
)
from sinks.ledger import Ledger

__all__ = ["app"]

app = typer.Typer(
    help="Chronicle: write-once evidence artifacts and their signed Merkle ledger.",
    no_args_is_help=True,
)


def _fail(message: str) -> typer.Exit:
    console_error(f"VERIFICATION FAILED: {message}")
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
    sha256 = store.put(file.read_bytes())
    typer.echo(sha256)


@app.command()
def verify(
    ctx: typer.Context,
    sha256: Annotated[str, typer.Argument(help="SHA-256 (hex) of the evidence artifact.")],
) -> None:
    """Prove the evidence SHA256 is in the ledger under the latest signed tree head.

    Prints the leaf index and the RFC 9162 audit path; checks the head's Ed25519
    signature, the leaf bytes and the inclusion proof, and re-hashes the artifact
    when it is stored locally. Exit 0 when everything verifies, 1 when not.
    """
    settings = settings_of(ctx)
    check_digest(sha256)
    store = ArtifactStore.open(settings.chronicle, settings.state_dir)
    try:
        path = store.verify(sha256)
        console.print(f"artifact  {path}  (sha256 verified, read-only)", highlight=False)
    except ArtifactNotFoundError:
        console.print("artifact  not stored in this Chronicle (ledger checked only)")
    except TamperedArtifactError as exc:
        raise _fail(str(exc)) from exc
    ledger = _ledger(settings.chronicle, settings.state_dir)
    try:
        entries = ledger.entries(sha256)
        if not entries:
            raise ConfigError(f"sha256:{sha256} is not recorded in the ledger")
        for entry in entries:
            check = ledger.prove_inclusion(entry)
            head = check.head
            console.print(
                f"leaf      {entry.leaf_index}  event {entry.event_id}  kind {entry.kind}  "
                f"proves {entry.proves}",
                highlight=False,
            )
            console.print(f"leaf hash {check.leaf_hash}", highlight=False)
            for depth, node in enumerate(check.audit_path):
                console.print(f"path[{depth}]   {node}", highlight=False)
            console.print(
                f"head      size {head.tree_size}  root {head.root_hex}  "
                f"signed by {head.key_id[:16]}…  at {head.timestamp}",
                highlight=False,
            )
        console.print(f"[bold green]verified[/bold green] {len(entries)} ledger entr(y/ies)")
    except LedgerIntegrityError as exc:
        raise _fail(str(exc)) from exc
    finally:
        ledger.close()


@app.command()
def audit(
    ctx: typer.Context,
    from_size: Annotated[
        int | None, typer.Option("--from", help="Tree size of the prior signed head.")
    ] = None,
    to_size: Annotated[
        int | None, typer.Option("--to", help="Tree size of the later signed head.")
    ] = None,
    deep: Annotated[
        bool, typer.Option(help="Also re-hash every leaf and rebuild the latest root.")
    ] = False,
) -> None:
    """Check that the later signed head extends the prior one (consistency proof).

    Defaults: the first and the latest signed heads. Both signatures are verified.
    Exit 0 when consistent, 1 when not.
    """
    settings = settings_of(ctx)
    ledger = _ledger(settings.chronicle, settings.state_dir)
    try:
        heads = ledger.heads()
        if not heads:
            raise ConfigError("the ledger has no signed tree head yet")
        prior = ledger.head_at(from_size) if from_size is not None else heads[0]
        later = ledger.head_at(to_size) if to_size is not None else heads[-1]
        check = ledger.prove_consistency(prior, later)
        console.print(
            f"prior     size {prior.tree_size}  root {prior.root_hex}\n"
            f"later     size {later.tree_size}  root {later.root_hex}\n"
            f"proof     {len(check.path)} hashes",
            highlight=False,
        )
        if deep:
            console.print(f"leaves    {ledger.audit_leaves()} re-hashed, root rebuilt")
        console.print("[bold green]consistent[/bold green]")
    except LedgerIntegrityError as exc:
        raise _fail(str(exc)) from exc
    finally:
        ledger.close()


def _ledger(settings: ChronicleSettings, state_dir: Path) -> Ledger:
    if not (settings.resolve_root(state_dir) / "ledger.db").is_file():
        raise ConfigError(f"no Chronicle ledger under {settings.resolve_root(state_dir)}")
    try:
        return Ledger.open(settings, state_dir, create_key=False)
    except ChronicleError as exc:
        raise _fail(str(exc)) from exc
