"""Tracing switched on by the environment only, a clear error for an OTLP exporter that is not
installed, the JSON lines exporter, and the trace context across a real Flight call."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sabot_lab.errors import SabotError
from sabot_lab.observability.tracing import (
    TRACE_FILE,
    JsonLinesSpanExporter,
    configure_tracing,
    read_spans,
    traceparent,
)
from sabot_lab.runtime.protocol import JobRequest
from sabot_lab.runtime.transport import ANONYMOUS, ClusterServer, call, dispatch


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"},
        {"OTEL_TRACES_EXPORTER": "otlp"},
        {"OTEL_TRACES_EXPORTER": "console,otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
    ],
)
def test_otlp_without_its_package_is_a_clear_error(environ: dict[str, str]) -> None:
    with pytest.raises(SabotError, match=r"needs the package opentelemetry-exporter-otlp"):
        configure_tracing("sabot-lab-test", environ)


def test_nothing_is_exported_unless_the_environment_asks() -> None:
    assert not configure_tracing("sabot-lab-test", {})
    assert not configure_tracing("sabot-lab-test", {"OTEL_TRACES_EXPORTER": "none"})
    asked = {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp", TRACE_FILE: "/x"}
    assert not configure_tracing("sabot-lab-test", asked)


def test_spans_as_json_lines_name_their_parents(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(path)))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("outer") as outer, tracer.start_as_current_span("inner"):
        pass
    inner, outer_record = read_spans(path)
    assert (inner["name"], outer_record["name"]) == ("inner", "outer")
    assert inner["parent_id"] == format(outer.get_span_context().span_id, "016x")
    assert outer_record["parent_id"] is None
    assert inner["trace_id"] == outer_record["trace_id"]
    assert outer_record["start_ns"] <= inner["start_ns"] <= inner["end_ns"]


class _ParentEcho(ClusterServer):
    """A server whose action ``parent`` answers the span current in its handler."""

    def do_action(self, context, action):  # type: ignore[no-untyped-def]
        return dispatch(action, {"parent": lambda body: traceparent()}, context)


def test_a_flight_call_carries_the_callers_span_to_the_handler() -> None:
    server = _ParentEcho("127.0.0.1", 0, ANONYMOUS, insecure=True)
    threading.Thread(target=server.serve, daemon=True).start()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        assert call(server.uri, "parent") is None  # no span here: none there
        with provider.get_tracer("test").start_as_current_span("client") as client:
            seen = call(server.uri, "parent")
        ctx = client.get_span_context()
        assert seen.rsplit("-", 1)[0] == f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}"
        assert JobRequest(plan="{}", trace=seen).trace == seen  # a job request carries it
    finally:
        server.shutdown()
