"""``python -m tests.failing_worker``: the real worker host with a facts store that
refuses every flush for good, for the test of what a failed plane does to the process
(``tests/integration/test_engine_failure.py``).

Everything but the refusal is real: faust hosting ``run_worker``, the engine, Kafka,
the chDB store. It is configured by ``PROOFSTREAM_*`` like ``proofstream run``
(``tests.pipeline_process.worker_env``) and serves no web API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import faust

from processors.engine import Engine
from processors.faust_config import faust_broker_url
from processors.worker import EngineService, WorkerAPI, run_worker
from proofstream.settings import Settings
from schemas.codec import EventCodec
from sinks.facts import make_plane
from sinks.plane import Plane

REFUSAL = "the flush is refused for good (test)"


class FlushRefused:
    """The real store, whose flush raises an error no retry can mend."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        return str(self.inner.name)

    def write(self, writes: Any, upto: Mapping[tuple[str, int], int]) -> None:
        self.inner.write(writes, upto)

    def flush(self) -> None:
        raise RuntimeError(REFUSAL)

    def watermark(self) -> dict[tuple[str, int], int]:
        return dict(self.inner.watermark())

    def close(self) -> None:
        self.inner.close()


def main() -> None:
    settings = Settings()
    codec = EventCodec()
    facts = make_plane(settings.clickhouse, settings.state_dir, codec)
    plane = Plane("facts", facts.projection, lambda: FlushRefused(facts.open_store()))
    processors = settings.processors
    engine = Engine([plane], codec, settings.kafka, processors)
    app = faust.App(
        f"{processors.group_prefix}.failing",
        broker=faust_broker_url(settings.kafka),
        datadir=str(settings.state_dir / "faust"),
        autodiscover=False,
        web_enabled=False,
    )
    api = WorkerAPI(engine, open_reader=None, state_dir=str(settings.state_dir))
    services = [EngineService(engine, processors.stop_timeout_s)]
    run_worker(app, services, api, "warning", processors.stop_timeout_s)


if __name__ == "__main__":
    main()
