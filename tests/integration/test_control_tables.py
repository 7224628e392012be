"""The JobManager's tables: migrations, states, idempotent writes, on SQLite and on a real
PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from sabot_lab.runtime.jobmanager.store import JobStore, sqlalchemy_url
from sabot_lab.runtime.jobmanager.tables import agents, schema_version, tasks_by_state
from tests.support import control_tables_v5 as v5


@pytest.fixture
def url(tmp_path: Path, database_url: str | None) -> str:
    """A fresh database: a SQLite file or a new PostgreSQL database."""
    return database_url or f"sqlite:///{tmp_path / 'jobs.sqlite'}"


def test_migrations_run_once_and_reopen_cleanly(url: str) -> None:
    store = JobStore(url)
    store.create_job("j1", "first")
    again = JobStore(url)  # a restarted JobManager opens the same database
    assert again.version == store.version
    assert [j["job_id"] for j in again.jobs()] == ["j1"]
    tables = set(sa.inspect(again.engine).get_table_names(schema=again.schema))
    assert {"jobs", "tasks", "agents", "checkpoints"} <= tables
    if again.schema is not None:  # PostgreSQL: in a schema of their own, none in public
        assert again.schema == "sabot"
        assert not {"jobs", "tasks"} & set(sa.inspect(again.engine).get_table_names("public"))


def test_writes_are_idempotent_and_ended_jobs_stay_ended(url: str) -> None:
    store = JobStore(url)
    assert store.create_job("j1", "a")  # new (PostgreSQL counts the inserted row too)
    assert not store.create_job("j1", "a")  # a workflow step that runs again
    store.add_task("t1", "j1", 0, 0, 0, "grpc://x")
    store.add_task("t1", "j1", 0, 0, 0, "grpc://x")
    assert len(store.tasks("j1")) == 1
    store.set_job_state("j1", "CANCELLED")
    store.set_job_state("j1", "RUNNING")  # too late: a cancelled job does not run again
    job = store.job("j1")
    assert job["state"] == "CANCELLED" and job["finished_at"] is not None


def test_unknown_states_and_jobs_are_clear_errors(url: str) -> None:
    store = JobStore(url)
    with pytest.raises(ValueError, match="unknown state 'DONE'"):
        store.set_job_state("j1", "DONE")
    from sabot_lab.errors import ClusterError

    with pytest.raises(ClusterError, match="no job 'nope'"):
        store.job("nope")


def test_agents_register_heartbeat_and_fail(url: str) -> None:
    store = JobStore(url)
    store.upsert_agent("grpc://a", "ACTIVE", slots=2, memory_bytes=1 << 30)
    first = store.agents()[0]["last_heartbeat"]
    store.upsert_agent("grpc://a", "BUSY", slots=2, running=2)
    (agent,) = store.agents()
    assert agent["state"] == "BUSY" and agent["running"] == 2 and agent["last_heartbeat"] >= first
    assert agent["memory_bytes"] == 1 << 30
    store.set_agent_state("grpc://a", "FAILED")
    assert store.agents()[0]["state"] == "FAILED"


def test_a_heartbeat_that_changes_nothing_is_not_written_until_the_interval(url: str) -> None:
    """50 agents' heartbeats cost no write each: the mirror has every one, the table the
    changes at once and the last heartbeat every ``heartbeat_write_interval`` seconds."""
    store = JobStore(url)

    def row() -> sa.RowMapping:
        with store.engine.connect() as conn:
            return (
                conn.execute(sa.select(agents).where(agents.c.uri == "grpc://a")).mappings().one()
            )

    store.upsert_agent("grpc://a", "ACTIVE", slots=1)
    written = row()["last_heartbeat"]
    store.upsert_agent("grpc://a", "ACTIVE", slots=1)  # nothing new: the mirror only
    assert store.agents()[0]["last_heartbeat"] >= written == row()["last_heartbeat"]
    store.upsert_agent("grpc://a", "BUSY", slots=1, running=1)  # a change: written at once
    changed = row()
    assert (changed["state"], changed["running"]) == ("BUSY", 1)
    assert changed["last_heartbeat"] > written
    store.heartbeat_write_interval = 0.0  # the interval passed: the heartbeat is written
    store.upsert_agent("grpc://a", "BUSY", slots=1, running=1)
    assert row()["last_heartbeat"] > changed["last_heartbeat"]


def test_tasks_not_ended_are_counted_through_the_index_of_tasks_by_state(url: str) -> None:
    with JobStore(url).engine.begin() as conn:  # a database of version 9: no such index
        tasks_by_state.drop(conn)
        conn.execute(schema_version.update().values(version=9))
    store = JobStore(url)  # migration 10 adds it
    indexes = sa.inspect(store.engine).get_indexes("tasks", schema=store.schema)
    assert "ix_tasks_status" in {i["name"] for i in indexes}
    store.create_job("j1", "q")
    placed = {p: (f"j1/0.{p}/0", f"grpc://a{p % 3}") for p in range(7)}
    store.add_tasks("j1", 0, 0, placed)
    store.set_task_states([(f"j1/0.{p}/0", "FINISHED", None, None) for p in (0, 1, 2)])
    assert store.unended_tasks_by("agent") == {"grpc://a0": 2, "grpc://a1": 1, "grpc://a2": 1}


def test_a_database_of_an_older_version_gains_the_new_columns(url: str) -> None:
    """A database made before the tasks' per-operator rows and the checkpoints' sizes keeps
    its rows and gains the columns."""
    v5.old_database(  # version 1: the first schema, without the newer columns
        sqlalchemy_url(url),
        1,
        "ALTER TABLE tasks DROP COLUMN operators",
        "ALTER TABLE checkpoints DROP COLUMN bytes",
    ).dispose()
    store = JobStore(url)
    store.create_job("j1", "first")
    store.add_task("j1/0.0/0", "j1", 0, 0, 0, "grpc://a:1")
    store.record_running_tasks([{"task_id": "j1/0.0/0", "rows_out": 5, "operators": {"s": 5}}])
    (task,) = store.tasks("j1")
    assert task["operators"] == {"s": 5} and task["rows_out"] == 5
    assert store.unended_tasks_by("agent") == {"grpc://a:1": 1}
    columns = {c["name"] for c in sa.inspect(store.engine).get_columns("checkpoints", store.schema)}
    assert "bytes" in columns
