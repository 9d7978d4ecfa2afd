"""OpenTelemetry SDK set-up, done once in ``main()``.

Exports over OTLP/HTTP only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the
per-signal ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set; the exporters read
their standard ``OTEL_*`` variables themselves. Otherwise nothing is installed
and every span and instrument in the libraries is the API's no-op: no cost, no
output. This is the one place that touches the OTel globals.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

__all__ = ["configure_telemetry"]

_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def configure_telemetry(environ: Mapping[str, str], service: str = "proofstream") -> bool:
    """Install OTLP/HTTP trace and metric exporters when an endpoint is configured.

    Returns whether it did. Call once, from ``main()``.
    """
    if not any(environ.get(name) for name in _ENDPOINT_VARS):
        return False
    resource = Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME", service)})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(tracer_provider)
    reader = PeriodicExportingMetricReader(OTLPMetricExporter())
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[reader]))
    return True
