"""The JobManager's SQLite databases under a burst of submissions, on a real file: no thread
waits for a connection (a submission used to wait behind the running jobs' steps for one of
SQLAlchemy's default 15)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from sabot_lab.runtime.jobmanager.store import SQLITE_POOL, create_engine


def test_every_connection_asked_for_at_once_is_opened_none_waits(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    opened = [engine.connect() for _ in range(SQLITE_POOL + 10)]  # a burst's threads
    try:
        assert [c.execute(sa.text("SELECT 1")).scalar() for c in opened] == [1] * len(opened)
    finally:
        for connection in opened:
            connection.close()
    assert engine.pool.checkedin() == SQLITE_POOL  # those beyond were closed again
