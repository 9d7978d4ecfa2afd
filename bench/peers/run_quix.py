"""Run the Quix Streams peer (``bench/peers/quix``) and relay its JSON result line.

Stdlib only, so the main benchmark can call it from proofstream's environment::

    python bench/peers/run_quix.py --bootstrap 127.0.0.1:9092 --topic T --events N --state DIR

It installs the peer's own locked environment (``uv sync --locked`` into
``bench/peers/quix/.venv``; quixstreams pins an older confluent-kafka than
proofstream, so the two cannot share one), then runs
``uv run --project bench/peers/quix python bench/peers/quix/app.py …`` with the
repo's ``schemas/avro`` and prints the app's one JSON line
(``{"events": N, "seconds": …, "events_per_s": …, …}``) on stdout. The app's logs go
to stderr. Exits with the app's status (non-zero when it did not land every event).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

PEERS = Path(__file__).resolve().parent
PROJECT = PEERS / "quix"
REPO = PEERS.parents[1]
SCHEMAS = REPO / "schemas" / "avro"


def _env() -> dict[str, str]:
    """This environment minus what would point uv at another virtualenv (the caller
    usually runs inside proofstream's own ``.venv``)."""
    env = dict(os.environ)
    for name in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH", "PYTHONHOME"):
        env.pop(name, None)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka HOST:PORT")
    parser.add_argument("--topic", required=True, help="the events topic to consume")
    parser.add_argument(
        "--events", type=int, default=0, help="records to process (0: the topic's end offsets)"
    )
    parser.add_argument("--state", required=True, help="a fresh directory for chDB and Quix")
    parser.add_argument("--schemas", default=str(SCHEMAS), help="the .avsc root (v<N>/*.avsc)")
    parser.add_argument("--group", default="", help="consumer group (default: a new one)")
    parser.add_argument("--idle-timeout", type=float, default=60.0)
    parser.add_argument("--uv", default=shutil.which("uv") or "uv", help="the uv executable")
    args = parser.parse_args()

    env = _env()
    sync = [args.uv, "sync", "--locked", "--compile-bytecode", "--project", str(PROJECT)]
    subprocess.run(sync, env=env, check=True, stdout=sys.stderr)
    command = [
        args.uv, "run", "--no-sync", "--project", str(PROJECT),
        "python", str(PROJECT / "app.py"),
        "--bootstrap", args.bootstrap,
        "--topic", args.topic,
        "--events", str(args.events),
        "--state", str(Path(args.state).resolve()),
        "--schemas", str(Path(args.schemas).resolve()),
        "--idle-timeout", str(args.idle_timeout),
    ]  # fmt: skip
    if args.group:
        command += ["--group", args.group]
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=False)
    result = None
    for line in done.stdout.splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            print(line, file=sys.stderr)
            continue
        if isinstance(parsed, dict) and "events_per_s" in parsed:
            result = line
        else:
            print(line, file=sys.stderr)
    if result is None:
        print(f"the Quix peer printed no result (exit {done.returncode})", file=sys.stderr)
        sys.exit(done.returncode or 1)
    print(result, flush=True)
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
