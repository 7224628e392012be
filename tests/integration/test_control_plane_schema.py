"""The control-plane tables as the design writes them, on SQLite and on a real PostgreSQL
server: a database of schema version 5 (with jobs in it) upgraded by migration 6 with its rows
kept, the tables in a PostgreSQL schema of their own, and the README's monitoring queries."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

import sabot_lab as sl
from sabot_lab.cli import build_parser
from sabot_lab.config import Config, get_config, set_config
from sabot_lab.runtime.jobmanager import tables
from sabot_lab.runtime.jobmanager.migrations import LATEST
from sabot_lab.runtime.jobmanager.store import JobStore, sqlalchemy_url
from tests.support import control_tables_v5 as v5
from tests.support.postgres import PostgresServer

README = Path(__file__).parents[2] / "README.md"
TIMES = {  # per table, its time columns (timestamps with time zone)
    "jobs": ("created_at", "updated_at", "completed_at"),
    "tasks": ("started_at", "updated_at", "completed_at"),
    "agents": ("registered_at", "last_heartbeat"),
    "checkpoints": ("created_at", "completed_at"),
    "leader_lease": ("expires_at", "acquired_at"),
}
DESIGN_COLUMNS = {  # the design document's control-plane schema
    "jobs": {"job_id", "job_name", "status", "created_at", "completed_at"},
    "tasks": {"task_id", "job_id", "operator_id", "agent_id", "status", "started_at",
              "completed_at"},
    "agents": {"agent_id", "host", "port", "status", "last_heartbeat"},
}  # fmt: skip
T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC; the offsets below are exact in microseconds


@pytest.fixture
def url(tmp_path: Path, database_url: str | None) -> str:
    """A fresh database: a SQLite file or a new PostgreSQL database."""
    return database_url or f"sqlite:///{tmp_path / 'jobs.sqlite'}"


def another_database(url: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A second fresh database of the same kind as ``url``."""
    if url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'other.sqlite'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()


def as_seconds(value: Any) -> float:
    """A timestamp as read by plain SQL (a datetime with zone on PostgreSQL, UTC text on
    SQLite) in seconds since the epoch."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
    assert isinstance(value, datetime) and value.tzinfo is not None, value
    return value.timestamp()


def version_5_database(url: str) -> None:
    """A database as sabot-lab wrote it at schema version 5, with two jobs in it."""
    engine = v5.old_database(sqlalchemy_url(url))
    with engine.begin() as conn:
        conn.execute(v5.jobs.insert(), [
            {"job_id": "done", "name": "daily", "state": "FINISHED", "physical": None,
             "partitions": 2, "planned_tasks": 2, "bounded": True, "error": None,
             "created_at": T0 + 0.25, "updated_at": T0 + 60.5, "finished_at": T0 + 60.5},
            {"job_id": "live", "name": "ticks", "state": "RUNNING", "physical": '{"stages": []}',
             "partitions": 1, "planned_tasks": 1, "bounded": False, "error": None,
             "created_at": T0 + 100.0, "updated_at": T0 + 101.0, "finished_at": None},
        ])  # fmt: skip
        conn.execute(v5.tasks.insert(), [
            {"task_id": "done/0.0/0", "job_id": "done", "stage": 0, "partition": 0,
             "attempt": 0, "state": "FINISHED", "agent": "grpc://10.0.0.7:8815",
             "error": None, "rows_in": 5, "rows_out": 10, "batches_out": 1, "bytes_out": 80,
             "busy_s": 0.5, "backpressure_s": 0.0, "created_at": T0 + 1.0,
             "updated_at": T0 + 50.0, "operators": {"src": 10}},
            {"task_id": "live/0.0/0", "job_id": "live", "stage": 0, "partition": 0,
             "attempt": 0, "state": "RUNNING", "agent": "grpc+tls://worker-2:8816",
             "error": None, "rows_in": 0, "rows_out": 3, "batches_out": 1, "bytes_out": 24,
             "busy_s": 0.125, "backpressure_s": 0.0, "created_at": T0 + 100.5,
             "updated_at": T0 + 101.0, "operators": None},
        ])  # fmt: skip
        conn.execute(v5.agents.insert(), [
            {"uri": "grpc://10.0.0.7:8815", "state": "ACTIVE", "slots": 2,
             "memory_bytes": 1 << 30, "running": 0, "registered_at": T0,
             "last_heartbeat": T0 + 200.125},
            {"uri": "grpc+tls://worker-2:8816", "state": "FAILED", "slots": 4,
             "memory_bytes": None, "running": 1, "registered_at": T0 + 0.5,
             "last_heartbeat": T0 + 150.0},
        ])  # fmt: skip
        conn.execute(v5.checkpoints.insert(), [
            {"job_id": "live", "checkpoint_id": 1, "state": "COMPLETE", "location": "/c/1",
             "created_at": T0 + 110.0, "completed_at": T0 + 110.5, "bytes": 100},
            {"job_id": "live", "checkpoint_id": 2, "state": "PENDING", "location": "/c/2",
             "created_at": T0 + 120.0, "completed_at": None, "bytes": None},
        ])  # fmt: skip
    engine.dispose()


def sql(url: str, text: str, **params: Any) -> list[tuple[Any, ...]]:
    """Rows of plain SQL on the database at ``url``, with PostgreSQL's search path set to
    the tables' schema as the README says."""
    engine = sa.create_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text("SET search_path TO sabot"))
            return [tuple(r) for r in conn.execute(sa.text(text), params)]
    finally:
        engine.dispose()


def columns(engine: sa.Engine, schema: str | None) -> dict[str, list[tuple[str, str, bool]]]:
    """Each control-plane table's columns (and the leader lease's): name, SQL type, nullable."""
    inspector = sa.inspect(engine)
    return {
        t.name: sorted(
            (c["name"], str(c["type"]), c["nullable"])
            for c in inspector.get_columns(t.name, schema)
        )
        for t in (*tables.CONTROL_TABLES, tables.leader_lease)
    }


def test_a_version_5_database_with_jobs_is_upgraded_keeping_its_rows(
    url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    version_5_database(url)
    store = JobStore(url)
    assert store.version == LATEST
    # the rows, as the JobManager and its clients read them: the same keys, times as seconds
    done = store.job("done")
    assert {k: done[k] for k in ("name", "state", "planned_tasks", "bounded", "physical")} == {
        "name": "daily", "state": "FINISHED", "planned_tasks": 2, "bounded": True,
        "physical": None,
    }  # fmt: skip
    assert (done["created_at"], done["finished_at"]) == (T0 + 0.25, T0 + 60.5)
    assert store.job("live")["physical"] == '{"stages": []}'
    assert [j["job_id"] for j in store.jobs()] == ["live", "done"]
    (task,) = store.tasks("done")
    assert task["agent"] == "grpc://10.0.0.7:8815" and task["state"] == "FINISHED"
    assert (task["created_at"], task["completed_at"]) == (T0 + 1.0, T0 + 50.0)
    assert task["operators"] == {"src": 10} and task["rows_out"] == 10
    assert task["operator_id"] is None  # not recorded before version 6
    assert store.tasks("live")[0]["completed_at"] is None
    assert store.unended_tasks_by("agent") == {"grpc+tls://worker-2:8816": 1}
    agents = {a["uri"]: a for a in store.agents()}
    assert agents["grpc://10.0.0.7:8815"]["last_heartbeat"] == T0 + 200.125
    assert (agents["grpc+tls://worker-2:8816"]["host"], agents["grpc+tls://worker-2:8816"]["port"],
            agents["grpc+tls://worker-2:8816"]["state"]) == ("worker-2", 8816, "FAILED")  # fmt: skip
    assert [(c["checkpoint_id"], c["state"], c["bytes"]) for c in store.checkpoints("live")] == [
        (1, "COMPLETE", 100),
        (2, "PENDING", None),
    ]
    # the rows, as plain SQL reads them: the design's names, timestamps with time zone
    rows = sql(url, "SELECT job_id, job_name, status, created_at, completed_at FROM jobs "
                      "ORDER BY job_id")  # fmt: skip
    assert [r[:3] for r in rows] == [("done", "daily", "FINISHED"), ("live", "ticks", "RUNNING")]
    assert [as_seconds(rows[0][3]), as_seconds(rows[0][4]), rows[1][4]] == [
        T0 + 0.25, T0 + 60.5, None,
    ]  # fmt: skip
    rows = sql(url, "SELECT task_id, agent_id, status, started_at, completed_at FROM tasks "
                      "WHERE job_id = :j", j="done")  # fmt: skip
    assert rows[0][:3] == ("done/0.0/0", "grpc://10.0.0.7:8815", "FINISHED")
    assert [as_seconds(t) for t in rows[0][3:]] == [T0 + 1.0, T0 + 50.0]
    rows = sql(url, "SELECT agent_id, host, port, status FROM agents ORDER BY agent_id")
    assert rows == [("grpc+tls://worker-2:8816", "worker-2", 8816, "FAILED"),
                    ("grpc://10.0.0.7:8815", "10.0.0.7", 8815, "ACTIVE")]  # fmt: skip
    # the upgraded schema is the one a new database gets
    upgraded = columns(store.engine, store.schema)
    assert upgraded == columns(JobStore(another_database(url, tmp_path, request)).engine,
                               store.schema)  # fmt: skip
    for table, names in DESIGN_COLUMNS.items():
        assert names <= {c[0] for c in upgraded[table]}, table
    for table, times in TIMES.items():
        kinds = {name: kind for name, kind, _ in upgraded[table] if name in times}
        timestamp = "DATETIME" if store.schema is None else "TIMESTAMP"
        assert kinds == dict.fromkeys(times, timestamp), table
    if store.schema is not None:  # PostgreSQL: with their zone, all in the schema "sabot"
        zoned = sql(url, "SELECT table_name, column_name FROM information_schema.columns "
                           "WHERE table_schema = 'sabot' "
                           "AND data_type = 'timestamp with time zone'")  # fmt: skip
        assert set(zoned) == {(t, c) for t, times in TIMES.items() for c in times}
        left = sql(url, "SELECT table_schema, table_name FROM information_schema.tables "
                          "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")  # fmt: skip
        assert set(left) == {("sabot", t) for t in [*TIMES, "task_logs", "sabot_schema_version"]}
    # it goes on working, and a restart finds it upgraded
    assert store.create_job("new", "after", created_at=T0 + 300.0)
    store.add_tasks("new", 0, 0, {0: ("new/0.0/0", "grpc://10.0.0.7:8815")}, "sink_1")
    store.set_task_state("new/0.0/0", "FINISHED")
    again = JobStore(url)
    assert again.version == LATEST and [j["job_id"] for j in again.jobs()] == [
        "new",
        "live",
        "done",
    ]
    (task,) = again.tasks("new")
    assert task["operator_id"] == "sink_1"
    assert task["created_at"] <= task["completed_at"] and task["state"] == "FINISHED"


def monitoring_queries() -> dict[str, str]:
    """The README's monitoring queries, by the sentence before each."""
    text = README.read_text()
    section = text.split("#### Monitoring queries", 1)[1].split("\n#", 1)[0]
    found = re.findall(r"\n([^\n`]+):\n\n```sql\n(.*?)```", section, flags=re.S)
    return {title.strip(): query for title, query in found}


def test_the_readme_monitoring_queries_answer_on_both_databases(url: str) -> None:
    store = JobStore(url)
    states = {"a": "FINISHED", "b": "FINISHED", "c": "RUNNING", "d": "FAILED", "e": "PENDING"}
    for n, (job_id, state) in enumerate(states.items()):
        store.create_job(job_id, f"job-{job_id}", created_at=T0 + n, state=state)
    uris = ["grpc://10.0.0.1:7001", "grpc://10.0.0.2:7002", "grpc://10.0.0.3:7003"]
    for uri in uris:
        store.upsert_agent(uri, "ACTIVE", slots=4)
    heartbeats = {uris[0]: T0 + 30.0, uris[1]: T0 + 50.0, uris[2]: T0 + 40.0}
    with store.engine.begin() as conn:
        for uri, at in heartbeats.items():
            conn.execute(
                tables.agents.update().where(tables.agents.c.uri == uri).values(last_heartbeat=at)
            )
    placed = {"a": [uris[0], uris[1]], "c": [uris[0], uris[0], uris[2]], "d": [uris[1]]}
    for job_id, on in placed.items():
        store.add_tasks(job_id, 0, 0, {p: (f"{job_id}/0.0/{p}", u) for p, u in enumerate(on)})
    store.record_running_tasks([{"task_id": "c/0.0/0"}, {"task_id": "c/0.0/2"}])
    for n in (1, 2, 3):
        store.add_checkpoint("c", n, f"/c/chk-{n}")
    store.complete_checkpoint("c", 1, 100)
    store.complete_checkpoint("c", 2, 150, discard=[1])

    queries = monitoring_queries()
    assert len(queries) == 5, list(queries)
    by_status = sql(url, queries["Jobs by status"])
    assert by_status == sorted(Counter(states.values()).items())
    newest = sql(url, queries["The newest jobs"])
    assert [r[:3] for r in newest] == [(j, f"job-{j}", states[j]) for j in reversed(states)]
    assert [as_seconds(r[3]) for r in newest] == [T0 + n for n in reversed(range(5))]
    per_agent = sql(url, queries["Tasks per agent, and how many of them run"])
    on_agents = Counter(u for on in placed.values() for u in on)
    assert per_agent == [(u, on_agents[u], {uris[0]: 1, uris[2]: 1}.get(u, 0)) for u in uris]
    agents = sql(url, queries["Agents by last heartbeat, the most recently heard first"])
    assert [(r[0], r[1], r[2], r[3]) for r in agents] == [
        (u, u[7:15], int(u[-4:]), "ACTIVE") for u in sorted(uris, key=heartbeats.get, reverse=True)
    ]
    assert [as_seconds(r[4]) for r in agents] == sorted(heartbeats.values(), reverse=True)
    history = sql(url, queries["A job's checkpoint history"], job_id="c")
    assert [(r[0], r[1], r[4]) for r in history] == [
        (1, "DISCARDED", 100), (2, "COMPLETE", 150), (3, "PENDING", None),
    ]  # fmt: skip
    assert all(r[2] is not None for r in history) and history[2][3] is None
    assert as_seconds(history[1][2]) <= as_seconds(history[1][3])


def test_the_tables_schema_on_postgresql_is_a_setting(postgres_server: PostgresServer) -> None:
    url = postgres_server.new_database()
    assert JobStore(url, "ops").schema == "ops"
    old = get_config()
    set_config(Config.from_env({"SABOT_DATABASE_SCHEMA": "control_plane"}))
    try:
        store = JobStore(url)
    finally:
        set_config(old)
    assert store.schema == "control_plane"
    inspector = sa.inspect(store.engine)
    for schema in ("ops", "control_plane"):
        assert {"jobs", "tasks", "agents", "checkpoints"} <= set(inspector.get_table_names(schema))
    assert "jobs" not in inspector.get_table_names("public")


def test_a_schema_name_that_is_not_plain_sql_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match=r"SABOT_DATABASE_SCHEMA='sabot; drop'.*plain SQL"):
        Config.from_env({"SABOT_DATABASE_SCHEMA": "sabot; drop"})
    with pytest.raises(SystemExit):
        build_parser().parse_args(["jobmanager", "--workdir", "w", "--db-schema", "Ops"])
    assert "database schema 'Ops' is not a plain SQL name" in capsys.readouterr().err
    args = build_parser().parse_args(["jobmanager", "--workdir", "w", "--db-schema", "ops"])
    assert args.db_schema == "ops"


def test_a_jobmanager_started_on_a_version_5_database_runs_on_it(
    tmp_path: Path, database_url: str | None
) -> None:
    """A JobManager restarted by a newer sabot-lab on its old database lists the old jobs as
    before, runs new ones, and the tables then say where each task ran."""
    url = database_url or f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    version_5_database(url)
    with sl.LocalCluster(agents=1, workdir=tmp_path, database_url=database_url) as cluster:
        listed = {j["job_id"]: j for j in cluster.jobs()}
        assert {k: listed["done"][k] for k in ("name", "state", "created_at", "finished_at")} == {
            "name": "daily", "state": "FINISHED", "created_at": T0 + 0.25,
            "finished_at": T0 + 60.5,
        }  # fmt: skip
        assert cluster.job("done").info()["planned_tasks"] == 2
        data = pa.table({"k": [1, 2, 1, None], "v": [1.0, 2.0, 3.0, 4.0]})
        job = sl.from_arrow(data).filter(sl.col("v") > 1.5).submit(cluster)
        assert job.result(timeout=120).sort_by("v").to_pydict() == {
            "k": [2, 1, None], "v": [2.0, 3.0, 4.0],
        }  # fmt: skip
        rows = sql(url, "SELECT operator_id, agent_id, status, started_at, completed_at "
                          "FROM tasks WHERE job_id = :j", j=job.job_id)  # fmt: skip
        assert rows and all(r[0] and r[2] == "FINISHED" for r in rows)
        assert {r[1] for r in rows} == set(cluster.agent_uris)
        assert all(as_seconds(r[3]) <= as_seconds(r[4]) for r in rows)
        (agent,) = sql(url, "SELECT host, port, status FROM agents WHERE agent_id = :a",
                       a=cluster.agent_uris[0])  # fmt: skip
        assert cluster.agent_uris[0] == f"grpc://{agent[0]}:{agent[1]}"
        assert agent[2] in ("ACTIVE", "BUSY")


def test_a_version_6_database_gets_the_task_figures(tmp_path: Path) -> None:
    """Migration 7 adds the task figures to a version-6 database, keeping its tasks."""
    url = f"sqlite:///{tmp_path / 'v6.sqlite'}"
    store = JobStore(url)
    store.create_job("j", "six")
    store.add_tasks("j", 0, 0, {0: ("j-t0", "grpc://127.0.0.1:1")})
    with store.engine.begin() as conn:  # as version 6 left it
        for name in ("operator_seconds", "state_bytes", "watermark"):
            conn.execute(sa.text(f"ALTER TABLE tasks DROP COLUMN {name}"))
        conn.execute(sa.text("UPDATE sabot_schema_version SET version = 6"))
    upgraded = JobStore(url)
    assert upgraded.version == LATEST
    columns = {c["name"] for c in sa.inspect(upgraded.engine).get_columns("tasks")}
    assert {"operator_seconds", "state_bytes", "watermark"} <= columns
    assert [t["task_id"] for t in upgraded.tasks("j")] == ["j-t0"]
