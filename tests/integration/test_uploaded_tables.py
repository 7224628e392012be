"""In-memory tables on a cluster: uploaded once as Arrow files and named in plans by id, on a
real two-agent ``LocalCluster`` whose checkpoint location (where uploads go) is shared storage,
so that a remote client (``sl.connect``) uploads over Flight too. The plan the JobManager
stores stays the same size whatever the rows; answers equal DuckDB's; uploads need the submit
token, a well-formed id and no path; an upload is deleted with the last job that read it, or by
the sweep when no job named it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.connectors import UploadedTable
from sabot_lab.connectors.uploaded_tables import new_upload_id, uploads_root
from sabot_lab.errors import AuthenticationError, ClusterError
from sabot_lab.runtime.transport import Credentials, put_table
from tests.support.reference import assert_same_rows, duckdb_table


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sl.LocalCluster]:
    shared = tmp_path_factory.mktemp("shared-storage")
    with sl.LocalCluster(agents=2, slots=2, checkpoint_location=shared) as c:
        yield c


SQL = "SELECT k, SUM(x) AS total, COUNT(*) AS n FROM t WHERE x % 3 <> 0 GROUP BY k"


def table_of(rows: int) -> pa.Table:
    rng = np.random.default_rng(rows)
    return pa.table({"k": rng.integers(0, 50, rows), "x": rng.integers(-1000, 1000, rows)})


def query(table: pa.Table) -> sl.Stream:
    return (
        sl.from_arrow(table)
        .filter(col("x") % 3 != 0)
        .group_by("k")
        .agg(total=col("x").sum(), n=sl.count())
    )


def uploads(cluster: sl.LocalCluster) -> set[str]:
    root = uploads_root(cluster.workdir, cluster.checkpoint_location).local_path
    assert root.is_relative_to(Path(str(cluster.checkpoint_location)))
    return {p.name for p in root.glob("*.arrow")} if root.exists() else set()


def stored_plan(cluster: sl.LocalCluster, job: sl.Job) -> str:
    return str(cluster._call("plan", {"job_id": job.job_id})["plan"])


def test_the_stored_plan_names_the_table_and_its_size_does_not_grow_with_the_rows(
    cluster: sl.LocalCluster,
) -> None:
    plans = []
    for rows in (20_000, 400_000):
        table = table_of(rows)
        job = query(table).submit(cluster, partitions=2)
        assert_same_rows(job.result(timeout=120), duckdb_table(SQL, t=table))
        plans.append(stored_plan(cluster, job))
    small, large = map(len, plans)
    assert abs(large - small) <= 8  # the row count's digits, nothing of the rows
    assert large < 8_000
    assert "uploaded_table" in plans[1]


def test_a_table_submitted_again_is_not_uploaded_again(
    cluster: sl.LocalCluster,
) -> None:
    table = table_of(50_000)
    stream = query(table)
    before = uploads(cluster)
    first = stream.submit(cluster, partitions=2)
    added = uploads(cluster) - before
    second = stream.submit(cluster, partitions=2)
    assert len(added) == 1 and uploads(cluster) - before == added
    expected = duckdb_table(SQL, t=table)
    assert_same_rows(first.result(timeout=120), expected)
    assert_same_rows(second.result(timeout=120), expected)


def test_an_upload_needs_the_submit_token_and_a_well_formed_id(
    cluster: sl.LocalCluster,
) -> None:
    table = table_of(10)
    before = uploads(cluster)
    refusals = {
        "invalid or missing bearer token": Credentials(),
        "may only read; submitting needs the submit token": Credentials(cluster.read_token),
    }
    for refusal, auth in refusals.items():
        with pytest.raises(AuthenticationError, match=refusal):
            put_table(cluster.uri, new_upload_id(), table, auth)
    for bad in ("../../outside", "A" * 32, ""):
        with pytest.raises(ClusterError, match=r"upload refused: upload id .* is not 32 hex"):
            put_table(cluster.uri, bad, table, cluster.auth)
    assert uploads(cluster) == before
    upload = new_upload_id()
    put_table(cluster.uri, upload, table, cluster.auth)  # the submit token may
    with pytest.raises(ClusterError, match="never replaces another"):
        put_table(cluster.uri, upload, table_of(20), cluster.auth)
    assert uploads(cluster) == before | {f"{upload}.arrow"}


def test_a_plan_names_uploads_by_id_only_and_each_is_checked(
    cluster: sl.LocalCluster,
) -> None:
    table = table_of(100)
    upload = cluster.upload_table(table)
    cases = {
        "names a directory": UploadedTable(upload, table.schema, 100, root="/etc"),
        "is not on this cluster": UploadedTable(new_upload_id(), table.schema, 100),
        "holds 100 rows": UploadedTable(upload, table.schema, 99),
    }
    jobs = len(cluster.jobs())
    for problem, source in cases.items():
        with pytest.raises(ClusterError, match=rf"the submitted plan is not valid: .*{problem}"):
            sl.from_source(source).submit(cluster)
    assert len(cluster.jobs()) == jobs
    read = sl.from_source(UploadedTable(upload, table.schema, 100)).submit(cluster)
    assert_same_rows(read.result(timeout=120), table)


def test_an_upload_is_deleted_with_the_last_job_that_read_it(
    cluster: sl.LocalCluster,
) -> None:
    table = table_of(30_000)
    stream = query(table)
    before = uploads(cluster)
    jobs = [stream.submit(cluster, partitions=2) for _ in range(2)]
    (upload,) = uploads(cluster) - before
    for job in jobs:
        job.wait(timeout=120)
    jobs[0].delete()
    assert upload in uploads(cluster)  # the other job still holds it
    jobs[1].delete()
    assert upload not in uploads(cluster)
    never_named = cluster.upload_table(table_of(40_000))
    assert f"{never_named}.arrow" in uploads(cluster)
    cluster.delete_ended(0)  # the retention sweep, for what ended (or was written) until now
    assert f"{never_named}.arrow" not in uploads(cluster)
    assert_same_rows(stream.submit(cluster).result(timeout=120), duckdb_table(SQL, t=table))


def test_a_from_iterable_list_is_uploaded_as_a_table(
    cluster: sl.LocalCluster,
) -> None:
    rows = [{"k": i % 7, "x": i * 5 - 3000} for i in range(6_000)]
    stream = (
        sl.from_iterable(rows)
        .filter(col("x") % 3 != 0)
        .group_by("k")
        .agg(total=col("x").sum(), n=sl.count())
    )
    job = stream.submit(cluster, partitions=2)
    assert_same_rows(job.result(timeout=120), duckdb_table(SQL, t=pa.Table.from_pylist(rows)))
    plan = stored_plan(cluster, job)
    assert "uploaded_table" in plan and len(plan) < 8_000


def test_a_remote_client_uploads_over_flight_when_the_agents_share_the_uploads(
    cluster: sl.LocalCluster,
) -> None:
    remote = sl.connect(cluster.uri, token=cluster.token)
    assert remote.takes_uploads()
    table = table_of(30_000)
    before = uploads(cluster)
    job = query(table).submit(remote, partitions=2)
    assert len(uploads(cluster) - before) == 1
    assert_same_rows(job.result(timeout=120), duckdb_table(SQL, t=table))
    assert "uploaded_table" in stored_plan(cluster, job)
