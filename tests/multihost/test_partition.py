"""An agent host cut off from the network in the middle of a job (its frames dropped at its
bridge port, see ``cluster/netns``): the JobManager marks it FAILED within the heartbeat
timeout, and the job completes on the other agents with the exact result."""

from __future__ import annotations

import json
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.multihost.conftest import HEARTBEAT, Cluster
from tests.support.reference import assert_same_rows, duckdb_table

TIMEOUT = float(HEARTBEAT["SABOT_HEARTBEAT_TIMEOUT"])
MONITOR = TIMEOUT / 4  # (the JobManager checks the heartbeats this often, at most 0.5 s)


@pytest.mark.slow
def test_an_agent_cut_off_mid_job_is_failed_within_the_timeout_and_the_job_is_exact(
    remote_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    hosts = remote_cluster.hosts
    shared = tmp_path_factory.mktemp("shared")
    n = 40_000
    facts = pa.table(
        {
            "k": [i * 7919 % 1_009 for i in range(n)],
            "x": [None if i % 11 == 0 else i % 997 for i in range(n)],
        }
    )
    dims = pa.table({"k": list(range(1_009)), "name": [f"n{k % 89}" for k in range(1_009)]})
    pq.write_table(facts, shared / "facts.parquet", row_group_size=500)  # 80 slow batches
    pq.write_table(dims, shared / "dims.parquet")
    victim = f"grpc://{hosts.addresses['agent2']}:"
    client = hosts.python(
        "client",
        *("-m", "tests.multihost.client_commands", "partition", remote_cluster.uri),
        *(str(shared / f) for f in ("facts.parquet", "dims.parquet", "result.parquet")),
        victim,
        env={"SABOT_TOKEN": remote_cluster.tokens["SABOT_TOKEN"]},
    )
    client.wait_for_line("running ", timeout=120)
    cut_at = time.time()
    hosts.cut("agent2")
    try:
        reply = json.loads(client.wait_for_line("{", timeout=300))
    finally:
        hosts.heal("agent2")
    assert reply["state"] == "FINISHED", client.log_tail()
    assert reply["failed_at"] is not None
    detected = reply["failed_at"] - cut_at
    print(
        f"cut off -> FAILED in {detected:.2f} s (heartbeat timeout {TIMEOUT:g} s)", file=sys.stderr
    )
    assert detected <= TIMEOUT + MONITOR + 1.0  # (the client polls every 0.05 s)
    assert max(reply["attempts"]) >= 1  # the job ran again without the agent cut off
    expected = duckdb_table(
        "SELECT name, SUM(x) AS total, COUNT(*) AS n FROM f JOIN d USING (k) GROUP BY name",
        f=facts,
        d=dims,
    )
    result = pq.read_table(shared / "result.parquet")
    assert result.num_rows == 89
    assert_same_rows(result.select(["name", "total", "n"]), expected)
    # healed, the agent registers again
    agents = remote_cluster.client("agents", "3")
    assert sorted(a["state"] for a in agents) == ["ACTIVE"] * 3, agents
