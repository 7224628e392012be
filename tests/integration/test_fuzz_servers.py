"""A fuzz campaign against a live ``LocalCluster(agents=2, slots=2)``: random, truncated,
oversized and wrongly typed bodies to every Flight action of the JobManager and the agents
(unknown names too), ``do_get`` tickets, ``do_exchange`` descriptors, and HTTP requests with
random paths, query strings, methods, headers, cookies and bodies; each with no credential, a
wrong one and each role's.

Every case must end in a Flight or HTTP error or a valid reply within the call timeout, with
no traceback and no server path in what the caller reads; the servers stay up and ``ping``
answers. Meanwhile a thread submits group-by jobs without pause, each result compared with
DuckDB, and the resident memory of the JobManager and agents is sampled: its peak stays within
:data:`RSS_HEADROOM` of what each process held before the campaign.

The bodies' field names come from the protocol's dataclasses, so new fields are fuzzed too.
The campaign is reproducible (``derandomize``); ``SABOT_FUZZ_EXAMPLES`` scales it up.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import psutil
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.errors import ClusterError
from sabot_lab.physical import TaskSpec
from sabot_lab.runtime.jobmanager.http import MAX_HEADER_BYTES, SESSION_COOKIE
from sabot_lab.runtime.protocol import (
    ENDED,
    JOBMANAGER_ACTIONS,
    CheckpointRequest,
    EndedBefore,
    Heartbeat,
    JobRef,
    JobRequest,
    JobsPage,
    LogsRequest,
    RowsRequest,
    TaskRef,
    TaskReport,
)
from sabot_lab.runtime.transport import Credentials, call
from tests.support.polling import wait_for
from tests.support.reference import assert_same_rows, duckdb_table

EXAMPLES = int(os.environ.get("SABOT_FUZZ_EXAMPLES", "100"))
"""Examples per target (seven targets; each example is sent with every credential)."""
settings.register_profile(
    "sabot-fuzz",
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("sabot-fuzz")

CALL_TIMEOUT = 90.0
"""Seconds a case may take before it counts as a hang: more than the longest long poll
(``wait``, 60 s), on a loaded machine."""
RSS_HEADROOM = 300 * 2**20
"""How much a process's resident memory may grow over its level before the campaign. The
largest body sent is 8 MB, which gRPC reads in full (before the token check: pyarrow lets no
Python server cap message sizes) and holds a few times over; the concurrent jobs add a few MB
each, and the JobManager keeps a small record of every job it ran (about 100 MB over a
campaign's hundred-odd jobs, measured). 300 MB leaves room for that on a loaded machine, yet
fails at once if a body were kept per call (the campaign sends about 200 MB of bodies of 1 to
8 MB, five times each) or grew, as four 256 MB requests took a JobManager to 2.4 GB."""
LEAKS = ("Traceback", "/sabot_lab/", "site-packages", 'File "')
"""What a reply must not contain: a traceback or a server path."""

AGENT_ACTIONS = ("deploy", "status", "cancel", "drop_job", "checkpoint", "ping")
UNKNOWN_ACTIONS = ("shell", "", "Submit", "submit ", "../ping", "x" * 300, "\x00", "délete")
JOBMANAGER_BODIES: dict[str, type | None] = {
    "submit": JobRequest,
    "jobs": JobsPage,
    "delete_ended": EndedBefore,
    "heartbeat": Heartbeat,
    "logs": LogsRequest,
    **dict.fromkeys(
        (
            "status",
            "wait",
            "tasks",
            "checkpoints",
            "metrics",
            "cancel",
            "savepoint",
            "delete",
            "plan",
        ),
        JobRef,
    ),
    **dict.fromkeys(("ping", "agents", "dashboard_code"), None),
}
"""The dataclass of each JobManager action's body (None: it takes none)."""
AGENT_BODIES: dict[str, type | None] = {
    "deploy": TaskSpec,
    "cancel": TaskRef,
    "drop_job": JobRef,
    "checkpoint": CheckpointRequest,
    "status": None,
    "ping": None,
}
assert set(JOBMANAGER_BODIES) == set(JOBMANAGER_ACTIONS) - {"result", "upload"}  # do_get, do_put
assert set(AGENT_BODIES) == set(AGENT_ACTIONS)

# -- strategies ---------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
SPECIAL_JSON = st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b'{"timeout": NaN}', b"1e999"])


def field_names(body: type | None) -> list[str]:
    """The fields of a body's dataclass (and of the task reports a heartbeat carries)."""
    if body is None:
        return ["job_id", "timeout"]
    names = [f.name for f in dataclasses.fields(body)]
    return names + [f.name for f in dataclasses.fields(TaskReport)] if body is Heartbeat else names


def typed_bodies(body: type | None) -> st.SearchStrategy[Any]:
    """Objects with the body's own field names, each holding any JSON value (so mostly the
    wrong type), and sometimes a nested copy of such an object."""
    names = field_names(body)
    flat = st.fixed_dictionaries({}, optional={n: JSON for n in names})
    return flat | st.fixed_dictionaries({}, optional={n: JSON | flat for n in names})


def encoded(body: type | None) -> st.SearchStrategy[bytes]:
    """The bytes of an action's body: typed or random JSON, truncated JSON, random bytes, or
    an oversized body (1 to 8 MB)."""
    as_json = (typed_bodies(body) | JSON).map(lambda v: json.dumps(v).encode())
    truncated = st.tuples(as_json, st.integers(0, 64)).map(
        lambda p: p[0][: len(p[0]) // 2 + p[1] % 2]
    )
    oversized = st.tuples(st.integers(1, 8), st.sampled_from([b'{"job_id": "', b"[", b"\xff"])).map(
        lambda p: p[1] + b"a" * (p[0] * 2**20)
    )
    return st.one_of(as_json, as_json, truncated, st.binary(max_size=200), SPECIAL_JSON, oversized)


def no_cleanup(payload: bytes) -> bool:
    """Whether a ``delete_ended`` body would not delete the concurrent jobs' results."""
    try:
        EndedBefore.from_dict(json.loads(payload))
    except Exception:
        return True
    return False


CREDENTIALS = ("none", "wrong", "read", "submit", "cluster")
UNEXPECTED = "its traceback is in its server's log"
"""What a server's error says when an exception it did not expect was raised."""
DEEP = b"[" * 100_000
"""JSON nested deeper than the parser's recursion limit (a RecursionError, not a ValueError)."""


# -- sending a case -------------------------------------------------------------------------

Sender = Callable[[flight.FlightClient, flight.FlightCallOptions], Any]
"""One Flight call of a case, made with a client and the options of a credential."""


@dataclasses.dataclass
class Campaign:
    """The live cluster under fuzzing, the credentials, and what the campaign counted."""

    cluster: sl.LocalCluster
    http: str
    cases: int = 0
    oversized: int = 0
    """Bodies of 1 MB or more (each sent with every credential)."""
    errors: dict[str, int] = dataclasses.field(default_factory=dict)

    def options(self, credential: str) -> flight.FlightCallOptions:
        token = {
            "none": None,
            "wrong": "not-the-token-" + "x" * 30,
            "read": self.cluster.read_token,
            "submit": self.cluster.auth.token,
            "cluster": self.cluster.cluster_auth.token,
        }[credential]
        headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
        return flight.FlightCallOptions(headers=headers, timeout=CALL_TIMEOUT)

    def client(self, uri: str) -> flight.FlightClient:
        return Credentials().client(uri)

    def note(self, body: bytes | None) -> None:
        """Count ``body`` among the oversized ones if it is."""
        self.oversized += body is not None and len(body) >= 2**20

    def flight_case(self, uri: str, send: Sender) -> None:
        """Send one case with every credential: each must be answered in time, with a reply
        or a Flight error holding no traceback, and no unexpected server error either: a
        malformed call is refused with what is wrong."""
        for credential in CREDENTIALS:
            self.cases += 1
            try:
                send(self.client(uri), self.options(credential))
            except flight.FlightTimedOutError as exc:
                raise AssertionError(f"{uri}: no answer within {CALL_TIMEOUT} s") from exc
            except (flight.FlightError, pa.ArrowException, OSError) as exc:
                kind = type(exc).__name__
                self.errors[kind] = self.errors.get(kind, 0) + 1
                assert_no_leak(str(exc))
                assert UNEXPECTED not in str(exc), f"{credential}: {exc}"
        self.assert_serving()

    def assert_serving(self) -> None:
        cluster = self.cluster
        assert cluster.jobmanager_process.poll() is None, "the JobManager died"
        for process in cluster.agent_processes:
            assert process.poll() is None, "an agent died"
        for uri, auth in (
            (cluster.uri, cluster.auth),
            *((a, cluster.cluster_auth) for a in cluster.agent_uris),
        ):
            assert call(uri, "ping", {}, auth, timeout=CALL_TIMEOUT)["uri"] == uri


def assert_no_leak(text: str) -> None:
    for leak in LEAKS:
        assert leak not in text, f"{leak!r} in what a client reads: {text[:2000]}"


def action(name: str, body: bytes) -> Sender:
    def send(client: flight.FlightClient, options: flight.FlightCallOptions) -> Any:
        results = list(client.do_action(flight.Action(name, body), options))
        for result in results:
            json.loads(result.body.to_pybytes())  # a reply is JSON
        return results

    return send


def get(ticket: bytes) -> Sender:
    def send(client: flight.FlightClient, options: flight.FlightCallOptions) -> Any:
        return client.do_get(flight.Ticket(ticket), options).read_all()

    return send


def exchange(command: bytes) -> Sender:
    def send(client: flight.FlightClient, options: flight.FlightCallOptions) -> Any:
        writer, reader = client.do_exchange(flight.FlightDescriptor.for_command(command), options)
        try:
            writer.done_writing()
            for _ in reader:  # a stream that exists ends: its consumer closed its side
                pass
        finally:
            writer.close()

    return send


# -- concurrent jobs and memory -------------------------------------------------------------


class Jobs(threading.Thread):
    """Submits group-by jobs one after another until stopped, each result compared with
    DuckDB; :attr:`failures` holds what went wrong."""

    def __init__(self, cluster: sl.LocalCluster) -> None:
        super().__init__(name="fuzz-jobs", daemon=True)
        self.cluster, self.done = cluster, 0
        self.failures: list[str] = []
        self.ids: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            table = pa.table({"k": [(i * n) % 13 for i in range(4_000)], "x": list(range(4_000))})
            try:
                job = (
                    sl.from_arrow(table).group_by("k").agg(total=col("x").sum(), n=col("x").count())
                )
                submitted = job.submit(self.cluster, name=f"fuzz-{n}")
                self.ids.append(submitted.job_id)
                result = submitted.result(timeout=120)
                expected = duckdb_table(
                    "SELECT k, SUM(x) AS total, COUNT(x) AS n FROM t GROUP BY k", t=table
                )
                assert_same_rows(result, expected)
                self.done += 1
            except Exception as exc:  # (reported by the test)
                self.failures.append(f"job {n}: {type(exc).__name__}: {exc}")


class Memory(threading.Thread):
    """Samples the resident memory of the cluster's processes until stopped."""

    def __init__(self, processes: dict[str, int]) -> None:
        super().__init__(name="fuzz-memory", daemon=True)
        self.processes = {name: psutil.Process(pid) for name, pid in processes.items()}
        self.baseline = self.sample()
        self.peak = dict(self.baseline)
        self.stop = threading.Event()

    def sample(self) -> dict[str, int]:
        return {name: p.memory_info().rss for name, p in self.processes.items()}

    def run(self) -> None:
        while not self.stop.wait(0.1):
            for name, rss in self.sample().items():
                self.peak[name] = max(self.peak[name], rss)


# -- the campaign ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sl.LocalCluster]:
    with sl.LocalCluster(agents=2, slots=2, workdir=tmp_path_factory.mktemp("fuzz")) as c:
        yield c


def test_a_submit_with_partitions_below_one_is_refused_before_its_job_starts(
    cluster: sl.LocalCluster,
) -> None:
    """Refused by the JobManager, not accepted to fail once its workflow runs."""
    stream = sl.from_pydict({"x": [1, 2]})
    plan = stream.graph.subgraph(stream.node_id).to_json()
    jobs = len(cluster.jobs())
    for partitions in (0, -3):
        with pytest.raises(ClusterError, match=f"partitions must be at least 1, got {partitions}"):
            call(cluster.uri, "submit", {"plan": plan, "partitions": partitions}, cluster.auth)
    assert len(cluster.jobs()) == jobs


def test_fuzzed_calls_leave_servers_serving_jobs_exact_and_memory_bounded(
    cluster: sl.LocalCluster,
) -> None:
    """The campaign (see the module's docstring); it prints its figures: the calls made, and
    each process's resident memory before, at its peak and after."""
    campaign = Campaign(cluster, call(cluster.uri, "ping", {}, cluster.auth)["http"])
    processes = {"jobmanager": cluster.jobmanager_process.pid}
    processes |= {f"agent{i}": p.pid for i, p in enumerate(cluster.agent_processes)}
    jobs = Jobs(cluster)
    jobs.start()
    wait_for(lambda: jobs.done > 0 or bool(jobs.failures), 120)  # warmed up: a job ran
    assert jobs.done > 0, jobs.failures
    memory = Memory(processes)
    memory.start()
    started = time.monotonic()
    try:
        fuzz_jobmanager_actions(campaign)
        fuzz_near_valid_calls(campaign, jobs)
        fuzz_agent_actions(campaign)
        fuzz_tickets(campaign)
        fuzz_exchanges(campaign)
        abandoned_streams_end(campaign)
        fuzz_other_calls(campaign)
        fuzz_http(campaign)
    finally:
        jobs.stop.set()
        jobs.join(180)
        memory.stop.set()
        memory.join()
    after = memory.sample()
    print(
        f"\nfuzz campaign: {campaign.cases} calls in {time.monotonic() - started:.0f} s "
        f"({campaign.oversized} bodies of 1 to 8 MB, each sent with every credential), "
        f"errors {campaign.errors}, {jobs.done} concurrent jobs exact"
    )
    for name in processes:
        print(
            f"  {name}: RSS {memory.baseline[name] / 2**20:.0f} MB before, "
            f"peak {memory.peak[name] / 2**20:.0f} MB, {after[name] / 2**20:.0f} MB after"
        )
    assert not jobs.failures, jobs.failures
    assert_every_job_ends(cluster)
    assert jobs.done >= 2
    for name in processes:
        assert memory.peak[name] <= memory.baseline[name] + RSS_HEADROOM, (name, memory.peak)
    campaign.assert_serving()


def fuzz_jobmanager_actions(campaign: Campaign) -> None:
    names = st.sampled_from(sorted(JOBMANAGER_BODIES)) | st.sampled_from(UNKNOWN_ACTIONS)

    @FUZZ
    @given(name=names, body=st.data())
    @example(name="jobs", body=DEEP)
    @example(name="submit", body=json.dumps({"plan": json.dumps({"nodes": 5})}).encode())
    @example(name="submit", body=json.dumps({"plan": "[" * 100_000}).encode())
    def case(name: str, body: st.DataObject | bytes) -> None:
        if isinstance(body, st.DataObject):
            bodies = encoded(JOBMANAGER_BODIES.get(name))
            body = body.draw(bodies.filter(no_cleanup) if name == "delete_ended" else bodies)
        campaign.note(body)
        campaign.flight_case(campaign.cluster.uri, action(name, body))

    case()


def fuzz_near_valid_calls(campaign: Campaign, jobs: Jobs) -> None:
    """Valid bodies with one field replaced by any JSON value: submits of a small plan, and
    the read-only calls about the concurrent jobs (which must not disturb them)."""
    stream = sl.from_pydict({"k": [1, 2, 1], "x": [1, 2, 3]}).group_by("k").agg(t=col("x").sum())
    submit = {"plan": stream.graph.subgraph(stream.node_id).to_json(), "name": "fuzzed"}
    reads = ("status", "wait", "tasks", "checkpoints", "metrics")

    def mutated(valid: dict[str, Any], body: type) -> st.SearchStrategy[dict[str, Any]]:
        names = st.sampled_from(field_names(body))
        return names.flatmap(lambda name: JSON.map(lambda value: {**valid, name: value}))

    @FUZZ
    @given(name=st.sampled_from(("submit", "heartbeat", *reads)), data=st.data())
    @example(name="heartbeat", data={**STOPPED_AGENT, "memory_bytes": 2**70})
    @example(name="heartbeat", data={**STOPPED_AGENT, "running": 2**64})
    def case(name: str, data: st.DataObject | dict[str, Any]) -> None:
        if isinstance(data, dict):
            body = data
        elif name == "submit":
            body = data.draw(mutated(submit, JobRequest).filter(few_tasks))
        elif name == "heartbeat":
            body = data.draw(mutated(STOPPED_AGENT, Heartbeat))
        else:
            ids = list(jobs.ids)  # (grows meanwhile: an index keeps the draws the same)
            job = ids[data.draw(st.integers(0, 2**16)) % len(ids)]
            body = data.draw(mutated({"job_id": job, "timeout": 0}, JobRef))
        campaign.flight_case(campaign.cluster.uri, action(name, json.dumps(body).encode()))

    case()


STOPPED_AGENT = {"uri": "grpc://127.0.0.1:1", "state": "STOPPED", "slots": 1}
"""A heartbeat of an agent that takes no tasks (nothing is placed on it)."""


def few_tasks(body: dict[str, Any]) -> bool:
    """Whether a submit asks for few enough tasks to keep the campaign short (at most 8 per
    operator; the JobManager's limit is 128)."""
    partitions = body.get("partitions")
    return not isinstance(partitions, int) or partitions <= 8 or partitions >= 2**63


def assert_every_job_ends(cluster: sl.LocalCluster) -> None:
    """Every job the campaign submitted (fuzzed ones too) ends: none is left stuck."""
    deadline = time.monotonic() + 120
    while True:
        jobs = call(cluster.uri, "jobs", {"limit": 1000}, cluster.auth)
        running = [j for j in jobs if j["state"] not in ENDED]
        if not running:
            return
        assert time.monotonic() < deadline, f"jobs that never end: {running}"
        time.sleep(0.2)


def fuzz_agent_actions(campaign: Campaign) -> None:
    agents = campaign.cluster.agent_uris
    names = st.sampled_from(AGENT_ACTIONS) | st.sampled_from(UNKNOWN_ACTIONS)

    @FUZZ
    @given(
        uri=st.sampled_from(agents),
        name=names,
        body=st.data(),
    )
    @example(uri=agents[0], name="ping", body=DEEP)
    @example(uri=agents[1], name="deploy", body=b'{"job_id": "j"}')
    @example(uri=agents[1], name="deploy", body=b'{"job_id": "j", "stage": [], "partition": 0}')
    def case(uri: str, name: str, body: st.DataObject | bytes) -> None:
        if isinstance(body, st.DataObject):
            body = body.draw(encoded(AGENT_BODIES.get(name)))
        # A task's spec is decoded, not checked field by field: only the JobManager (the
        # cluster credential) sends one, so a malformed one may fail unexpectedly.
        campaign.note(body)
        campaign.flight_case(uri, action(name, body))

    case()


def fuzz_tickets(campaign: Campaign) -> None:
    """``do_get`` tickets, to the JobManager (results) and to agents (which serve none)."""
    servers = [campaign.cluster.uri, *campaign.cluster.agent_uris]

    @FUZZ
    @given(
        uri=st.sampled_from(servers),
        ticket=encoded(JobRef),
    )
    @example(uri=servers[0], ticket=DEEP)
    @example(uri=servers[1], ticket=b'{"job_id": "j"}')
    def case(uri: str, ticket: bytes) -> None:
        campaign.note(ticket)
        campaign.flight_case(uri, get(ticket))

    case()


def fuzz_exchanges(campaign: Campaign) -> None:
    servers = [campaign.cluster.uri, *campaign.cluster.agent_uris]
    descriptor = st.fixed_dictionaries(
        {}, optional={n: JSON for n in ("job", "exchange", "partition", "schema", "producer")}
    ).map(lambda v: json.dumps(v).encode())

    @FUZZ
    @given(
        uri=st.sampled_from(servers),
        command=descriptor | encoded(None),
    )
    @example(uri=servers[0], command=b"{}")
    @example(uri=servers[1], command=DEEP)
    def case(uri: str, command: bytes) -> None:
        campaign.note(command)
        campaign.flight_case(uri, exchange(command))

    case()


def abandoned_streams_end(campaign: Campaign) -> None:
    """A streaming read of a producer that never comes, whose caller gives up (its deadline
    passes), ends on the agent: it holds no thread afterwards."""
    cluster = campaign.cluster
    schema = pa.schema([("a", pa.int64())])
    token = [(b"authorization", f"Bearer {cluster.cluster_auth.token}".encode())]
    for uri in cluster.agent_uris:
        for n in range(5):
            command = RowsRequest(f"nojob{n}/0", "abandoned", 0, schema, "0.0").to_json()
            options = flight.FlightCallOptions(headers=token, timeout=0.5)
            with pytest.raises(flight.FlightTimedOutError):
                exchange(command)(campaign.client(uri), options)
        wait_for(lambda uri=uri: not abandoned_streams(cluster, uri), 60)
        assert abandoned_streams(cluster, uri) == []
    campaign.assert_serving()


def abandoned_streams(cluster: sl.LocalCluster, uri: str) -> list[dict[str, Any]]:
    streams = call(uri, "status", {}, cluster.cluster_auth)["streams"]
    return [s for s in streams if s["exchange"] == "abandoned"]


def fuzz_other_calls(campaign: Campaign) -> None:
    """The Flight calls no server of the cluster serves, and the JobManager's ``do_put``
    (uploads, whose descriptor is an upload id) with any descriptor: a refusal, never a
    traceback."""
    servers = [campaign.cluster.uri, *campaign.cluster.agent_uris]
    descriptor = encoded(None).map(flight.FlightDescriptor.for_command)

    def put(d: flight.FlightDescriptor) -> Callable[..., Any]:
        def send(client: flight.FlightClient, options: flight.FlightCallOptions) -> None:
            writer, _ = client.do_put(d, pa.schema([("a", pa.int64())]), options)
            with writer:
                writer.write_table(pa.table({"a": [1, 2]}))

        return send

    def calls(d: flight.FlightDescriptor) -> list[Callable[..., Any]]:
        return [
            put(d),
            lambda client, options: client.get_flight_info(d, options),
            lambda client, options: client.get_schema(d, options),
            lambda client, options: list(client.list_flights(b"", options)),
            lambda client, options: list(client.list_actions(options)),
        ]

    @FUZZ
    @given(
        uri=st.sampled_from(servers),
        d=descriptor,
        which=st.integers(0, 4),
    )
    @example(uri=servers[0], d=flight.FlightDescriptor.for_command(b"{}"), which=0)
    @example(uri=servers[2], d=flight.FlightDescriptor.for_command(b"{}"), which=1)
    def case(uri: str, d: flight.FlightDescriptor, which: int) -> None:
        campaign.flight_case(uri, calls(d)[which])

    case()


PATHS = (
    "/",
    "/login",
    "/api/jobs",
    "/api/jobs/x",
    "/api/agents",
    "/metrics",
    "/api",
    "/api/jobs/a/b",
)
METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "BREW")
HEADERS = ("X-A", "Accept", "Content-Type", "Origin", "Range", "Host", "Content-Encoding")
URI_HOST = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=\[\]:]|%[0-9A-Fa-f]{2})*")
"""A ``Host`` header the HTTP endpoint reads a request after (RFC 3986's host, as Tornado
checks it: ports and IPv6 brackets allowed)."""
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)


def fuzz_http(campaign: Campaign) -> None:
    cluster = campaign.cluster
    tokens = {
        "none": None,
        "wrong": "wrong",
        "read": cluster.read_token,
        "submit": cluster.auth.token,
        "cluster": cluster.cluster_auth.token,
    }
    url = urlsplit(campaign.http)
    session = session_cookie(cluster)
    body = st.binary(max_size=300) | st.integers(1, 8).map(lambda mb: b"a" * (mb * 2**20))
    printable = st.characters(min_codepoint=0x21, max_codepoint=0x7E)

    @FUZZ
    @given(
        method=st.sampled_from(METHODS),
        path=st.sampled_from(PATHS) | st.text(printable, max_size=40).map(lambda p: "/" + p),
        query=st.dictionaries(HEADER_TEXT.filter(bool), HEADER_TEXT, max_size=3),
        headers=st.dictionaries(st.sampled_from(HEADERS), HEADER_TEXT, max_size=3),
        cookie=st.none() | st.just(session) | HEADER_TEXT.map(f"{SESSION_COOKIE}={{}}".format),
        payload=st.none() | body,
    )
    @example(
        method="GET",
        path="/api/jobs/" + "%2e" * 100,
        query={},
        headers={},
        cookie=session,
        payload=None,
    )
    def case(
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        cookie: str | None,
        payload: bytes | None,
    ) -> None:
        campaign.note(payload)
        target = quote(path, safe="/%") + ("?" + urlencode(query) if query else "")
        for token in tokens.values():
            campaign.cases += 1
            sent = dict(headers)
            if token:
                sent["Authorization"] = f"Bearer {token}"
            if cookie is not None:
                sent["Cookie"] = cookie
            assert_no_leak(
                http_case(url.hostname or "", url.port or 0, method, target, sent, payload)
            )
        campaign.assert_serving()

    case()


def http_case(
    host: str, port: int, method: str, target: str, headers: dict[str, str], payload: bytes | None
) -> str:
    """The body of the endpoint's answer to one request: never a server error; no answer
    only to a body it does not read: one larger than it reads, or one after a ``Host``
    header that is no URI host (the server answers 400 and closes before the body, and the
    client may see the connection reset before the answer)."""
    connection = http.client.HTTPConnection(host, port, timeout=CALL_TIMEOUT)
    try:
        connection.request(method, target, body=payload, headers=headers)
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
    except (ConnectionError, http.client.RemoteDisconnected):
        assert payload is not None  # not read: closed
        assert len(payload) > MAX_HEADER_BYTES or not URI_HOST.fullmatch(headers.get("Host", ""))
        return ""
    finally:
        connection.close()
    assert response.status < 500, (response.status, text[:2000])
    return text


def session_cookie(cluster: sl.LocalCluster) -> str:
    """A valid dashboard session cookie, from a one-time link."""
    link = urlsplit(call(cluster.uri, "dashboard_code", {}, cluster.auth)["link"])
    connection = http.client.HTTPConnection(link.hostname or "", link.port, timeout=CALL_TIMEOUT)
    try:
        connection.request("GET", f"{link.path}?{link.query}")
        response = connection.getresponse()
        response.read()
        assert response.status == 303, response.status
        return (response.getheader("Set-Cookie") or "").split(";")[0]
    finally:
        connection.close()
