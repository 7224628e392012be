"""Checkpoint storage: locations on any ``pyarrow.fs`` filesystem, incremental RocksDB
snapshots (a snapshot uploads only the files earlier ones did not), and the removal of shared
files no retained checkpoint uses. Restored states are compared with the tables put in."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from sabot_lab.engine.checkpoints import (
    checkpoint_bytes,
    checkpoint_path,
    remove_unshared,
    shared_files,
)
from sabot_lab.engine.state import StateBackend, open_state
from sabot_lab.engine.state.rocks import RocksState
from sabot_lab.errors import LocationError
from sabot_lab.location import Location
from tests.support.kafka_broker import S3Server


def table(seed: int, rows: int = 20_000) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({"k": rng.integers(0, 1 << 40, rows), "v": rng.random(rows)})


def put_all(state: StateBackend, tables: dict[str, pa.Table]) -> None:
    for key, t in tables.items():
        state.put(key, t)


def held(state_kind: str, chk: Location, shared: Location) -> dict[str, pa.Table]:
    with open_state(state_kind) as state:
        state.restore(chk, shared)
        return dict(state.items())


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    server = S3Server("checkpoints")
    yield server
    server.stop()


@pytest.fixture(params=["path", "file", "s3"])
def root(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Location:
    """A checkpoint directory given as a local path, a ``file://`` URI, or an ``s3://`` URI
    of an S3 server (moto's) on loopback: the last two through ``pyarrow.fs``."""
    if request.param == "path":
        return Location.of(str(tmp_path))
    if request.param == "file":
        return Location.of(f"file://{tmp_path}")
    server: S3Server = request.getfixturevalue("s3")
    for name, value in server.credentials.items():
        monkeypatch.setenv(name, value)
    return Location.of(server.uri(tmp_path.name))


def test_a_second_snapshot_uploads_only_what_changed(root: Location) -> None:
    tables = {f"w/{i}": table(i) for i in range(40)}  # about 13 MB of state
    shared = root / "shared" / "window@0.0"
    with RocksState() as state:
        put_all(state, tables)
        state.snapshot(checkpoint_path(root, 1) / "window@0.0", shared)
        tables["w/new"] = table(99)
        state.put("w/new", tables["w/new"])
        state.snapshot(checkpoint_path(root, 2) / "window@0.0", shared)
    first, second = (checkpoint_bytes(checkpoint_path(root, n)) for n in (1, 2))
    assert first > 10_000_000 and second < first / 10
    for kind in ("rocksdb", "memory"):  # restored by either backend, the same tables
        restored = held(kind, checkpoint_path(root, 2) / "window@0.0", shared)
        assert sorted(restored) == sorted(tables)
        assert all(restored[k].equals(tables[k]) for k in tables)


def test_removed_checkpoints_free_only_the_files_no_kept_one_uses(root: Location) -> None:
    rng = random.Random(7)
    tables: dict[str, pa.Table] = {}
    expected = {}
    shared = root / "shared" / "join@1.0"
    with RocksState() as state:
        for n in range(1, 9):  # churn: puts and deletes, so RocksDB compacts files away
            for _ in range(30):
                key = f"k{rng.randrange(60)}"
                if key in tables and rng.random() < 0.4:
                    state.delete(key)
                    del tables[key]
                else:
                    tables[key] = table(rng.randrange(1 << 30), 2_000)
                    state.put(key, tables[key])
            state.snapshot(checkpoint_path(root, n) / "join@1.0", shared)
            expected[n] = dict(tables)
    before = {name for name, _ in (root / "shared").files()}
    for n in range(1, 7):  # keep the last two
        checkpoint_path(root, n).delete()
    removed = remove_unshared(root)
    after = {name for name, _ in (root / "shared").files()}
    used = set(shared_files(checkpoint_path(root, 7))) | set(shared_files(checkpoint_path(root, 8)))
    assert removed > 0 and after == used and after < before
    for n in (7, 8):
        restored = held("rocksdb", checkpoint_path(root, n) / "join@1.0", shared)
        assert sorted(restored) == sorted(expected[n])
        assert all(restored[k].equals(expected[n][k]) for k in expected[n])


def test_a_restored_state_uploads_new_files_under_new_names(root: Location) -> None:
    shared = root / "shared" / "agg@0.0"
    with RocksState() as state:
        state.put("a", table(1))
        state.snapshot(checkpoint_path(root, 1) / "agg@0.0", shared)
        state.put("b", table(2))
        state.snapshot(checkpoint_path(root, 2) / "agg@0.0", shared)  # never completes
    contents = {name: (shared / name).read_bytes() for name, _ in shared.files()}
    with RocksState.from_snapshot(checkpoint_path(root, 1) / "agg@0.0", shared) as again:
        again.put("c", table(3))  # the restored database numbers files as the lost one did
        again.snapshot(checkpoint_path(root, 2) / "agg@0.0", shared)
    for name, data in contents.items():
        assert (shared / name).read_bytes() == data  # nothing uploaded before was overwritten
    restored = held("memory", checkpoint_path(root, 2) / "agg@0.0", shared)
    assert sorted(restored) == ["a", "c"] and restored["c"].equals(table(3))


def test_an_incremental_snapshot_needs_its_shared_directory(tmp_path: Path) -> None:
    with RocksState() as state:
        state.put("a", table(1, 10))
        state.snapshot(tmp_path / "chk-1" / "op", tmp_path / "shared" / "op")
        with pytest.raises(Exception, match="restore it with its shared directory"):
            state.restore(tmp_path / "chk-1" / "op")


def test_locations_print_as_given_and_name_bad_uris() -> None:
    at = Location.of("s3://bucket/base?region=eu-west-1&scheme=http") / "checkpoints" / "job1"
    assert str(at) == "s3://bucket/base/checkpoints/job1?region=eu-west-1&scheme=http"
    assert Location.of("relative/dir").local_path.is_absolute()
    with pytest.raises(LocationError, match=r"cannot open nosuch://x.*pyarrow.fs supports"):
        _ = Location.of("nosuch://x").filesystem
    with pytest.raises(LocationError, match="cannot read"):
        Location.of("/nonexistent/file").read_bytes()
