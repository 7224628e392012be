"""The job tables' side of retention, on a real SQLite database: deleting a job's rows, the
jobs that ended before a time, pages of jobs, the plan kept once, and ``/metrics`` keeping
per-job series of live and recent jobs only."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from sabot_lab.config import Config
from sabot_lab.runtime.jobmanager import tables
from sabot_lab.runtime.jobmanager.metrics import ENDED_SERIES_SECONDS, prometheus_text, series_since
from sabot_lab.runtime.jobmanager.store import JobStore, Planned
from tests.support import control_tables_v5 as v5


def checkpointed(store: JobStore, job_id: str, ended_at: float | None) -> None:
    """A job with one complete checkpoint, ended at ``ended_at`` (None: running)."""
    store.create_job(job_id, "q", physical=Planned("{}", 1, 1, False), state="RUNNING")
    store.add_checkpoint(job_id, 1, f"/c/{job_id}/chk-1")
    store.complete_checkpoint(job_id, 1, 100)
    if ended_at is not None:
        store.set_job_state(job_id, "CANCELLED")
        with store.engine.begin() as conn:
            conn.execute(
                tables.jobs.update()
                .where(tables.jobs.c.job_id == job_id)
                .values(finished_at=ended_at)
            )


def test_metrics_keep_the_series_of_live_and_recently_ended_jobs_only() -> None:
    store = JobStore("sqlite://")
    now = 1_000_000.0
    checkpointed(store, "live", None)
    checkpointed(store, "recent", now - 60)
    checkpointed(store, "old", now - ENDED_SERIES_SECONDS - 1)
    shown = store.last_checkpoints(series_since(now, ttl=None))
    assert sorted(c["job_id"] for c in shown) == ["live", "recent"]
    assert [c["job_id"] for c in store.last_checkpoints(series_since(now, ttl=30))] == ["live"]
    text = prometheus_text(store.job_counts(), [], [], now, shown)
    series = [line for line in text.splitlines() if line.startswith("sabot_checkpoint_last_bytes")]
    assert sorted(series) == [
        'sabot_checkpoint_last_bytes{job="live"} 100',
        'sabot_checkpoint_last_bytes{job="recent"} 100',
    ]
    assert 'sabot_jobs{state="CANCELLED"} 2' in text and 'sabot_jobs{state="RUNNING"} 1' in text


def test_a_job_ending_keeps_no_plan_and_deleting_it_keeps_no_row() -> None:
    store = JobStore("sqlite://")
    checkpointed(store, "j1", None)
    store.add_task("j1/0.0/0", "j1", 0, 0, 0, "grpc://a")
    assert store.job("j1")["physical"] == "{}"
    store.set_job_state("j1", "FINISHED")
    job = store.job("j1")
    assert job["physical"] is None and job["planned_tasks"] == 1 and job["bounded"] is False
    assert store.ended_before(job["finished_at"] + 1) == ["j1"]
    assert store.ended_before(job["finished_at"]) == []
    assert store.delete_job("j1")
    assert store.row_counts() == {
        "jobs": 0,
        "tasks": 0,
        "agents": 0,
        "checkpoints": 0,
        "task_logs": 0,
    }
    with pytest.raises(Exception, match="deleted"):
        store.job("j1")


def test_pages_of_jobs_follow_each_other_with_equal_times() -> None:
    store = JobStore("sqlite://")
    for n in range(7):
        store.create_job(f"j{n}", "q", created_at=float(n // 3 + 1))  # three share each time
    every = [j["job_id"] for j in store.jobs(limit=1000)]
    assert every == ["j6", "j5", "j4", "j3", "j2", "j1", "j0"]
    pages, before = [], None
    while page := [j["job_id"] for j in store.jobs(limit=2, before=before)]:
        pages.append(page)
        before = page[-1]
    assert [j for page in pages for j in page] == every
    assert "plan" not in store.jobs()[0]


def test_a_database_with_the_plan_column_loses_it_and_keeps_its_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    engine = v5.old_database(  # version 3: jobs held their plan, required
        url,
        3,
        "ALTER TABLE jobs DROP COLUMN planned_tasks",
        "ALTER TABLE jobs DROP COLUMN bounded",
        "ALTER TABLE jobs ADD COLUMN plan TEXT NOT NULL DEFAULT '{}'",
        "INSERT INTO jobs (job_id, name, state, plan, created_at, updated_at) "
        "VALUES ('old', 'q', 'FINISHED', '{\"big\": 1}', 1.0, 1.0)",
    )
    engine.dispose()
    store = JobStore(url)
    columns = {c["name"] for c in sa.inspect(store.engine).get_columns("jobs")}
    assert "plan" not in columns and {"planned_tasks", "bounded"} <= columns
    assert store.job("old")["state"] == "FINISHED"
    assert store.create_job("new", "q")


def test_retention_settings_come_from_the_environment() -> None:
    config = Config.from_env(
        {"SABOT_RESULT_TTL": "none", "SABOT_RETENTION_INTERVAL": "5", "SABOT_SPILL_LIMIT": "1024"}
    )
    assert config.cluster.result_ttl is None and config.cluster.retention_interval == 5.0
    assert config.cluster.spill_limit == 1024
    assert Config.from_env({"SABOT_RESULT_TTL": "0"}).cluster.result_ttl == 0.0
    assert Config().cluster.result_ttl == 24 * 3600.0
    with pytest.raises(ValueError, match="SABOT_RESULT_TTL"):
        Config.from_env({"SABOT_RESULT_TTL": "-1"})
    with pytest.raises(ValueError, match="retention_interval must be > 0"):
        Config(retention_interval=0)
