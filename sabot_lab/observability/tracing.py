"""Traces of jobs with OpenTelemetry: one trace per job, from the client's ``submit`` through
the JobManager's workflow (``job``, ``accept``, each ``stage``, ``checkpoint``,
``sink commit``, ``finish``) to each ``task`` on the agents.

The context crosses processes in the W3C ``traceparent`` header of the Flight calls
(:func:`trace_headers` on the calling side, :class:`TraceHeadersFactory` and
:func:`remote_parent` on the serving side) and, for the workflow that outlives the
``submit`` call, in the job's request (:func:`traceparent`).

A process exports spans only when it is asked to (:func:`configure_tracing`): the standard
``OTEL_*`` variables (``OTEL_TRACES_EXPORTER=otlp|console``, or an
``OTEL_EXPORTER_OTLP_ENDPOINT``; ``OTEL_SDK_DISABLED=true`` turns all off), or
:data:`TRACE_FILE` for JSON lines (:class:`JsonLinesSpanExporter`). Otherwise no tracer
provider is installed and every span is OpenTelemetry's non-recording one: nearly free.

May import ``errors``, OpenTelemetry, ``pyarrow.flight``.

>>> from opentelemetry.sdk.trace import TracerProvider
>>> from opentelemetry.sdk.trace.export import SimpleSpanProcessor
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "spans.jsonl"
>>> provider = TracerProvider()
>>> provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(path)))
>>> tracer = provider.get_tracer("example")
>>> with tracer.start_as_current_span("submit"):
...     header = dict(trace_headers())[b"traceparent"].decode()
...     with remote_parent({"traceparent": header}), tracer.start_as_current_span("job"):
...         pass
>>> submit_span, job_span = sorted(read_spans(path), key=lambda s: s["name"], reverse=True)
>>> job_span["parent_id"] == submit_span["span_id"], job_span["trace_id"] == submit_span["trace_id"]
(True, True)
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow.flight as flight
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from sabot_lab.errors import SabotError

__all__ = [
    "TRACE_FILE",
    "JsonLinesSpanExporter",
    "TraceHeadersFactory",
    "call_parent",
    "configure_tracing",
    "failed",
    "otlp_exporter",
    "read_spans",
    "remote_parent",
    "span",
    "trace_headers",
    "traceparent",
]

TRACE_FILE = "SABOT_TRACE_FILE"
"""The variable naming a file each process appends its finished spans to, as JSON lines (one
file may serve every process of a cluster: each line is written at once)."""

_PROPAGATOR = TraceContextTextMapPropagator()
_TRACER = trace.get_tracer("sabot_lab")  # follows the provider installed later, if any
_CONFIGURED = threading.Lock()


def configure_tracing(service: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``environ`` (default: the process's) asks for spans to be exported; if it
    does, install a tracer provider for this process (named ``service``) exporting them as
    it asks, unless one is installed already (the user's, or by an earlier call): that one is
    kept as it is.

    >>> configure_tracing("sabot-lab-example", {})
    False
    >>> configure_tracing("sabot-lab-example", {"OTEL_TRACES_EXPORTER": "jaeger"})
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SabotError: OTEL_TRACES_EXPORTER=jaeger: sabot-lab exports traces with otlp, console or none
    """
    environ = os.environ if environ is None else environ
    exporters = _exporters(environ)
    if not exporters:
        return False
    with _CONFIGURED:
        if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            return True
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        for exporter, batched in exporters:
            processor = BatchSpanProcessor if batched else SimpleSpanProcessor
            provider.add_span_processor(processor(exporter))
        trace.set_tracer_provider(provider)
        return True


def _exporters(environ: Mapping[str, str]) -> list[tuple[SpanExporter, bool]]:
    """The exporters ``environ`` asks for, each with whether it exports in batches."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    names = environ.get("OTEL_TRACES_EXPORTER", "otlp" if endpoint else "none")
    out: list[tuple[SpanExporter, bool]] = []
    for name in (n.strip().lower() for n in names.split(",") if n.strip()):
        if name == "otlp":
            out.append((otlp_exporter(), True))
        elif name == "console":
            out.append((ConsoleSpanExporter(), False))
        elif name != "none":
            raise SabotError(
                f"OTEL_TRACES_EXPORTER={name}: sabot-lab exports traces with otlp, console or none"
            )
    if environ.get(TRACE_FILE):
        out.append((JsonLinesSpanExporter(environ[TRACE_FILE]), False))
    return out


def otlp_exporter() -> SpanExporter:
    """The OTLP span exporter (its endpoint, headers and protocol from the ``OTEL_*``
    variables), from the optional package ``opentelemetry-exporter-otlp``."""
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
    )
    try:
        if protocol.startswith("http"):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter,
            )
    except ImportError:
        raise SabotError(
            "exporting traces by OTLP needs the package opentelemetry-exporter-otlp: "
            "pip install 'sabot-lab[otel]' (or unset OTEL_TRACES_EXPORTER and "
            "OTEL_EXPORTER_OTLP_ENDPOINT)"
        ) from None
    exporter: SpanExporter = OTLPSpanExporter()
    return exporter


class JsonLinesSpanExporter(SpanExporter):
    """Appends each finished span to the file at ``path`` as one JSON line (see
    :func:`span_record`): a trace of several processes is the lines of their files.
    Each export is one ``write`` to a file opened for appending, so processes sharing the
    file do not interleave their lines."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(span_record(s)) + "\n" for s in spans).encode()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, lines)
            finally:
                os.close(fd)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release: each export opens and closes the file."""


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """A finished span as plain JSON data: its name, trace and span ids (hex), its parent's
    span id (None for a root), its start and end (ns since the epoch), attributes, and the
    service of the process."""
    ctx = span.get_span_context()
    assert ctx is not None  # (a finished SDK span always has one)
    parent = span.parent
    return {
        "name": span.name,
        "trace_id": format(ctx.trace_id, "032x"),
        "span_id": format(ctx.span_id, "016x"),
        "parent_id": None if parent is None else format(parent.span_id, "016x"),
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "attributes": dict(span.attributes or {}),
        "service": span.resource.attributes.get("service.name"),
        "status": span.status.status_code.name,
    }


def read_spans(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The spans a :class:`JsonLinesSpanExporter` wrote to ``path`` (none if it has no file
    yet)."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@contextlib.contextmanager
def span(
    name: str, parent: str | None = None, /, **attributes: str | int | float | bool | None
) -> Iterator[trace.Span]:
    """A span ``name`` of sabot-lab, current inside the block, child of the current span, or
    of the one ``parent`` (a ``traceparent`` value) names; attributes that are None are left
    out. A block that raises marks the span as failed.

    >>> with span("stage", stage=0) as s:  # (recorded when a tracer provider is installed)
    ...     isinstance(s, trace.Span)
    True
    """
    parent_context = None if parent is None else _extract({"traceparent": parent})
    kept = {f"sabot.{k}": v for k, v in attributes.items() if v is not None}
    with _TRACER.start_as_current_span(name, context=parent_context, attributes=kept) as current:
        yield current


def failed(current: trace.Span, error: str | None) -> None:
    """Mark ``current`` as failed with ``error``."""
    current.set_status(trace.Status(trace.StatusCode.ERROR, error))


def trace_headers() -> list[tuple[bytes, bytes]]:
    """The headers carrying the current span to the server of a Flight call (none when no
    span is current: tracing off)."""
    if not trace.get_current_span().get_span_context().is_valid:
        return []
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return [(k.encode(), v.encode()) for k, v in carrier.items()]


def traceparent() -> str | None:
    """The current span as a ``traceparent`` value (for :func:`span`'s ``parent``), or None
    when no span is current.

    >>> traceparent() is None
    True
    """
    return dict(trace_headers()).get(b"traceparent", b"").decode() or None


def _extract(carrier: Mapping[str, str]) -> otel_context.Context:
    return _PROPAGATOR.extract(dict(carrier))


@contextlib.contextmanager
def remote_parent(carrier: Mapping[str, str] | None) -> Iterator[None]:
    """Make the span the ``carrier`` headers (``traceparent``, ``tracestate``) name the
    current one inside the block; nothing changes without one."""
    if not carrier or "traceparent" not in carrier:
        yield
        return
    token = otel_context.attach(_extract(carrier))
    try:
        yield
    finally:
        otel_context.detach(token)


class TraceHeaders(flight.ServerMiddleware):
    """The trace headers a Flight call carried (see :class:`TraceHeadersFactory`)."""

    def __init__(self, carrier: dict[str, str]) -> None:
        super().__init__()
        self.carrier = carrier


class TraceHeadersFactory(flight.ServerMiddlewareFactory):
    """Keeps the trace headers of each Flight call that has them (``traceparent``,
    ``tracestate``) for its handler: ``context.get_middleware("trace")``.

    >>> TraceHeadersFactory().start_call(None, {"traceparent": ["00-ab-cd-01"]}).carrier
    {'traceparent': '00-ab-cd-01'}
    >>> TraceHeadersFactory().start_call(None, {"authorization": ["Bearer t"]}) is None
    True
    """

    def start_call(
        self, info: flight.CallInfo, headers: dict[str, list[str]]
    ) -> TraceHeaders | None:
        carrier = {k: v[0] for k in ("traceparent", "tracestate") if (v := headers.get(k))}
        return TraceHeaders(carrier) if "traceparent" in carrier else None


def call_parent(context: flight.ServerCallContext | None) -> Mapping[str, str] | None:
    """The trace headers of the Flight call of ``context`` (None: it had none)."""
    if context is None:
        return None
    found = context.get_middleware("trace")
    return found.carrier if isinstance(found, TraceHeaders) else None
