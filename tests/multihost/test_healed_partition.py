"""An agent host cut off in the middle of a job that takes checkpoints and commits to a
Parquet sink, then healed: the agent is FAILED within the heartbeat timeout and the job's
next attempt runs on the others; healed, the agent registers again, the tasks of the old
attempt it still ran are cancelled while the job goes on (the JobManager records them
failed, whatever the agent reports), and the sink holds each row exactly once."""

from __future__ import annotations

import json
import sys
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from sabot_lab.runtime.addresses import host_of
from tests.multihost.conftest import HEARTBEAT, Cluster
from tests.support.reference import assert_same_rows, duckdb_table

TIMEOUT = float(HEARTBEAT["SABOT_HEARTBEAT_TIMEOUT"])
MONITOR = TIMEOUT / 4  # (the JobManager checks the heartbeats this often, at most 0.5 s)


@pytest.mark.slow
def test_a_healed_agent_rejoins_its_stale_tasks_are_cancelled_and_the_sink_has_each_row_once(
    remote_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    hosts = remote_cluster.hosts
    shared = tmp_path_factory.mktemp("shared")
    n = 50_000
    facts = pa.table(
        {
            "id": list(range(n)),
            "k": [i * 7919 % 1_009 for i in range(n)],
            "x": [None if i % 11 == 0 else i % 997 for i in range(n)],
        }
    )
    pq.write_table(facts, shared / "facts.parquet", row_group_size=250)  # 100 slow batches a task
    sink = shared / "sink"
    client = hosts.python(
        "client",
        *("-m", "tests.multihost.partition_commands", remote_cluster.uri),
        *(str(shared / f) for f in ("facts.parquet", "sink")),
        env={
            "SABOT_TOKEN": remote_cluster.tokens["SABOT_TOKEN"],
            "SABOT_CLUSTER_TOKEN": remote_cluster.tokens["SABOT_CLUSTER_TOKEN"],
        },
    )
    uri = client.wait_for_line("victim ", timeout=120).split()[-1]
    victim = next(h for h, a in hosts.addresses.items() if a == host_of(uri))
    cut_at = time.time()
    hosts.cut(victim)
    try:
        failed_at = float(client.wait_for_line("failed ", timeout=120).split()[-1])
    finally:
        hosts.heal(victim)
    reply = json.loads(client.wait_for_line("{", timeout=240))
    print(
        f"cut off -> FAILED in {failed_at - cut_at:.2f} s; FAILED -> ACTIVE (healed between) in "
        f"{reply['rejoined_at'] - failed_at:.2f} s",
        file=sys.stderr,
    )
    assert failed_at - cut_at <= TIMEOUT + MONITOR + 1.0
    assert reply["state"] == "FINISHED", client.log_tail()
    assert reply["attempts"] == [0, 1]
    assert reply["agent_state"] in ("ACTIVE", "BUSY")
    # the old attempt's tasks on the healed agent were cancelled while the job ran on
    stale = reply["stale"]
    assert stale and "RUNNING" not in stale.values() and "CANCELLED" in stale.values(), stale
    assert reply["job_then"] == "RUNNING"
    assert {reply["recorded"][t] for t in stale} == {"FAILED"}, reply["recorded"]
    # each row reached the sink once
    written = pq.read_table(sink)
    counts = pc.value_counts(written["id"]).field("counts")
    assert written.num_rows == n and pc.max(counts).as_py() == 1
    expected = duckdb_table("SELECT id, k, x, 2 * x AS y FROM f", f=facts)
    assert_same_rows(written.select(["id", "k", "x", "y"]), expected)
