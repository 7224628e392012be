"""The PostgreSQL sink against a real server: one transaction per commit, a commit done twice
writes nothing twice, rows upsert by key, and bad settings are clear errors."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

import sabot_lab as sl
from tests.support.postgres import PostgresServer, query


def test_commits_are_written_once_and_upsert_by_key(postgres_server: PostgresServer) -> None:
    url = postgres_server.new_database()
    sink = sl.PostgresSink(url, "totals", key=["symbol"])
    first = pa.table(
        {
            "symbol": ["A", "B"],
            "total": [1.5, 2.0],
            "at": pa.array([dt.datetime(2026, 1, 1)] * 2, pa.timestamp("ms")),
        }
    )
    assert sink.commit(first, "job1", 1)
    assert not sink.commit(first, "job1", 1)  # the same commit again: nothing written
    second = pa.table({"symbol": ["B", "C"], "total": [5.0, 7.0], "at": first["at"]})
    assert sink.commit(second, "job1", 2)
    assert sorted(query(url, "SELECT symbol, total FROM totals")) == [
        ("A", 1.5),
        ("B", 5.0),
        ("C", 7.0),
    ]
    assert query(url, "SELECT commit_id, rows FROM sabot_commits ORDER BY 1") == [(1, 2), (2, 2)]
    with pytest.raises(sl.SourceError, match=r"key \['name'\] is not among the columns"):
        sl.PostgresSink(url, "other", key=["name"]).commit(first, "job1", 3)
    with pytest.raises(sl.SourceError, match="plain"):
        sl.PostgresSink(url, "totals; DROP TABLE x")
