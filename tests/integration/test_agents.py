"""Agents as real processes on loopback: tasks, Flight shuffles and results, checked against
DuckDB and the in-process engine."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.errors import ClusterError
from sabot_lab.examples.datasets import quotes, securities
from sabot_lab.examples.demo import fintech_pipeline
from sabot_lab.physical import TaskSpec, plan_stages
from sabot_lab.physical.ids import RESULT
from sabot_lab.runtime.agent.server import fetch_rows
from sabot_lab.runtime.agent.store import ShuffleStore
from sabot_lab.runtime.jobmanager.driver import run_on_agents
from sabot_lab.runtime.transport import Credentials, call
from tests.support.polling import wait_for
from tests.support.reference import assert_same_rows, duckdb_table
from tests.support.tcp_proxy import TcpProxy

TOKEN = "agent-test-token-of-128-bits"
AUTH = Credentials(TOKEN)


def start_agent(
    slots: int = 2, token: str = TOKEN, *args: str
) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "SABOT_CLUSTER_TOKEN": token}
    process = subprocess.Popen(
        [sys.executable, "-m", "sabot_lab.cli", "agent", "--slots", str(slots), *args],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("sabot-lab agent ready "), line
    return process, line.split()[-1]


@pytest.fixture(scope="module")
def agents() -> Iterator[list[str]]:
    started = [start_agent(), start_agent()]
    yield [uri for _, uri in started]
    for process, _ in started:
        process.terminate()
        process.wait(timeout=10)


def distributed(
    stream: sl.Stream, agents: list[str], partitions: int = 4, job: str = "job"
) -> pa.Table:
    plan = stream.optimize()
    physical = plan_stages(plan.graph, partitions, {})  # no estimates: shuffle every join
    return run_on_agents(physical, agents, job, AUTH)


def test_fintech_query_on_two_agents_equals_duckdb(agents: list[str]) -> None:
    q, s = quotes(50_000, n_securities=2_000, seed=5), securities(2_000)
    result = distributed(
        fintech_pipeline(sl.from_arrow(q), sl.from_arrow(s)), agents, job="fintech"
    )
    con = duckdb.connect()
    con.register("q", q)
    con.register("s", s)
    expected = con.sql(
        "SELECT sector, SUM(price * size) AS total, COUNT(*) AS n FROM q JOIN s ON security_id = id "
        "WHERE price > 100 AND rating >= 3 GROUP BY sector ORDER BY total DESC"
    ).to_arrow_table()
    assert_same_rows(result, expected, ordered=True)


def test_shuffle_heavy_group_by_equals_duckdb(agents: list[str]) -> None:
    n = 200_000
    table = pa.table({"k": [i * 7919 % 10_007 for i in range(n)], "x": list(range(n))})
    s = (
        sl.from_arrow(table)
        .group_by("k")
        .agg(total=col("x").sum(), n=sl.count(), top=col("x").max())
    )
    result = distributed(s, agents, partitions=6, job="groupby")
    con = duckdb.connect()
    con.register("t", table)
    expected = con.sql(
        "SELECT k, SUM(x) AS total, COUNT(*) AS n, MAX(x) AS top FROM t GROUP BY k"
    ).to_arrow_table()
    assert result.num_rows == 10_007
    assert_same_rows(result, expected)


def test_a_task_error_comes_back_with_the_remote_traceback(agents: list[str]) -> None:
    def explode(batch: pa.RecordBatch) -> pa.RecordBatch:
        raise ValueError("bad row in the feed")

    s = sl.from_pydict({"x": [1, 2, 3]}).map_batches(explode, schema={"x": "int64"})
    with pytest.raises(ClusterError, match="bad row in the feed") as error:
        distributed(s, agents, job="failing")
    assert "Traceback" in str(error.value) and "in explode" in str(error.value)


def test_calls_without_the_token_are_rejected(agents: list[str]) -> None:
    with pytest.raises(ClusterError, match="rejected"):
        call(agents[0], "status", None, Credentials("not-the-token"))
    assert call(agents[0], "ping", None, AUTH)["state"] == "ACTIVE"


def test_a_duplicate_deploy_runs_nothing_twice(agents: list[str]) -> None:
    from sabot_lab.physical import TaskSpec

    plan = plan_stages(sl.from_pydict({"x": [1]}).graph, 1)
    spec = TaskSpec("dup", plan.final, 0, {}, {})
    first = call(agents[0], "deploy", spec.to_dict(), AUTH)
    again = call(agents[0], "deploy", spec.to_dict(), AUTH)
    assert (first["deployed"], again["deployed"]) == (True, False)
    call(agents[0], "drop_job", {"job_id": "dup"}, AUTH)


def test_unreachable_agent_is_a_clear_error() -> None:
    with pytest.raises(ClusterError, match="unreachable"):
        call("grpc://127.0.0.1:9", "ping", None, AUTH, timeout=5)


def test_an_agent_is_starting_until_the_jobmanager_hears_from_it() -> None:
    process, uri = start_agent(2, TOKEN, "--jobmanager", "grpc://127.0.0.1:9")
    try:
        assert call(uri, "ping", None, AUTH)["state"] == "STARTING"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_shuffle_rows_spill_beyond_the_memory_limit_and_read_back_in_order() -> None:
    store = ShuffleStore(memory_limit=50_000, compression="zstd")
    batches = [pa.record_batch({"x": pa.array(range(i * 1000, (i + 1) * 1000))}) for i in range(40)]
    for producer in ("p1", "p0"):
        store.start_producer("j", producer)
        for b in batches:
            store.put("j", "x", 0, producer, b)
            assert store.nbytes() <= 50_000  # memory never grows past the limit
    assert store.spilled_bytes >= 2 * sum(b.nbytes for b in batches) - 50_000
    rows = pa.Table.from_batches(list(store.get("j", "x", 0)))
    expected = pa.Table.from_batches(batches * 2)  # producer p0 first, then p1
    assert rows.equals(expected)
    store.start_producer("j", "p0")  # a re-run drops its spilled rows too
    assert pa.Table.from_batches(list(store.get("j", "x", 0))).equals(
        pa.Table.from_batches(batches)
    )
    assert store.drop_job("j") == 40 and list(store.get("j", "x", 0)) == []
    store.close()


def test_a_slow_consumer_holds_the_stream_to_its_credit_window() -> None:
    """A shuffle stream sends one batch per credit: a consumer that stops taking batches
    stops the agent's sends at its window, and every row still arrives once it reads on."""
    process, uri = start_agent(1, TOKEN, "--shuffle-memory", "1MB")
    try:
        seeds = [pa.record_batch({"seed": [i]}) for i in range(40)]
        schema = pa.schema([("seed", pa.int64()), ("x", pa.int64())])
        widen = lambda b: pa.record_batch(  # noqa: E731
            {"seed": pa.array([b["seed"][0].as_py()] * 50_000), "x": pa.array(range(50_000))}
        )
        stream = sl.from_iterable(seeds, schema=seeds[0].schema).map_batches(widen, schema=schema)
        plan = plan_stages(stream.graph, 1)
        spec = TaskSpec.of(plan, plan.final, 0, "slow", {})
        call(uri, "deploy", spec.to_dict(), AUTH)
        wait_for(lambda: call(uri, "status", None, AUTH)["tasks"][0]["state"] == "FINISHED")

        def sent() -> list[int]:
            return [s["sent"] for s in call(uri, "status", None, AUTH)["streams"]]

        rows = fetch_rows(uri, spec.scope, RESULT, 0, schema, AUTH, window=3)
        first = next(rows)
        time.sleep(0.5)  # the consumer dawdles: the agent has sent its window and waits
        assert sent() == [3]
        got = pa.Table.from_batches([first, *rows])
        assert sent() == []  # the stream ended
        assert got.num_rows == 40 * 50_000
        assert sorted(set(got["seed"].to_pylist())) == list(range(40))
        assert call(uri, "status", None, AUTH)["spilled_bytes"] > 0  # rows held: 1 MB at most
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_job_with_compressed_spilling_shuffles_equals_duckdb() -> None:
    started = [
        start_agent(2, TOKEN, "--shuffle-memory", "64KB", "--compression", compression)
        for compression in ("lz4", "zstd")
    ]
    try:
        uris = [uri for _, uri in started]
        n = 200_000
        table = pa.table({"k": [i * 7919 % 5003 for i in range(n)], "x": list(range(n))})
        s = sl.from_arrow(table).group_by("k").agg(total=col("x").sum(), n=sl.count())
        result = distributed(s, uris, partitions=4, job="spilling")
        expected = duckdb_table(
            "SELECT k, SUM(x) AS total, COUNT(*) AS n FROM t GROUP BY k", t=table
        )
        assert_same_rows(result, expected)
        assert all(call(uri, "status", None, AUTH)["spilled_bytes"] > 0 for uri in uris)
    finally:
        for process, _ in started:
            process.terminate()
            process.wait(timeout=30)


def test_a_shuffle_read_on_a_connection_a_healed_partition_left_stale_reads_again(
    agents: list[str],
) -> None:
    """An agent keeps its connection to a peer agent between jobs. A network partition that
    healed left it stale: the peer gave it up, and the next read on it is reset. The read,
    which has taken no rows yet, runs again on a new connection, and the job's answer is
    whole."""
    proxy = TcpProxy(agents[1].removeprefix("grpc://"))
    peer = f"grpc://127.0.0.1:{proxy.port}"
    n = 20_000
    table = pa.table({"k": [i * 7919 % 1_009 for i in range(n)], "x": list(range(n))})
    s = sl.from_arrow(table).group_by("k").agg(total=col("x").sum(), n=sl.count())
    expected = duckdb_table("SELECT k, SUM(x) AS total, COUNT(*) AS n FROM t GROUP BY k", t=table)
    try:
        assert_same_rows(distributed(s, [agents[0], peer], job="before"), expected)
        proxy.partition()
        proxy.heal()
        AUTH.forget(peer)  # (this process's own connection: the agents' are the ones tested)
        assert_same_rows(distributed(s, [agents[0], peer], job="healed"), expected)
    finally:
        proxy.close()


def test_a_task_of_a_dropped_job_holds_its_slot_until_its_thread_ends(
    agents: list[str], tmp_path: Path
) -> None:
    """A dropped job's tasks are cancelled, but a task stops only between batches: one in a
    long call of a user's function runs on. Until its thread ends, the agent counts its slot
    busy (``running``) and lists it ``draining``; then the slot is free."""
    started, release = tmp_path / "started", tmp_path / "release"

    def hold(batch: pa.RecordBatch) -> pa.RecordBatch:
        started.touch()
        while not release.exists():  # (a function that ignores the cancel)
            time.sleep(0.01)
        return batch

    uri = agents[0]
    idle = call(uri, "status", None, AUTH)["running"]
    s = sl.from_pydict({"x": [1, 2]}).map_batches(hold, schema={"x": "int64"})
    plan = plan_stages(s.graph, 1)
    spec = TaskSpec.of(plan, plan.final, 0, "held", {})
    try:
        call(uri, "deploy", spec.to_dict(), AUTH)
        wait_for(started.exists)
        call(uri, "drop_job", {"job_id": "held"}, AUTH)
        status = call(uri, "status", None, AUTH)
        assert status["running"] == idle + 1
        assert spec.task_id not in [t["task_id"] for t in status["tasks"]]
        assert status["draining"] == [spec.task_id]
    finally:
        release.touch()
    wait_for(lambda: call(uri, "status", None, AUTH)["draining"] == [])
    status = call(uri, "status", None, AUTH)
    assert (status["running"], status["draining"]) == (idle, [])
