"""A savepoint adopted as a new job's first checkpoint, on real files and a real SQLite job
store: the JobManager adopts it when it accepts the job and again when the job's first stage
runs (a JobManager restarted in between has no memory of the first); the second adoption must
not rewrite files the job's tasks may already be reading."""

from __future__ import annotations

import json
from pathlib import Path

from sabot_lab.engine.checkpoints import Checkpoints
from sabot_lab.location import Location
from sabot_lab.runtime.jobmanager.checkpoints import CheckpointFiles
from sabot_lab.runtime.jobmanager.store import JobStore, Planned


def _files(tmp_path: Path) -> tuple[CheckpointFiles, str]:
    """Checkpoint files whose job ``first`` kept checkpoint 3 as a savepoint."""
    store = JobStore("sqlite://")
    files = CheckpointFiles(Location.of(tmp_path), store)
    store.create_job("first", "q", physical=Planned("{}", 1, 1, False), state="RUNNING")
    Checkpoints(files.directory("first"), "0.0").save(3, "000-source", {"0": 148490})
    store.add_checkpoint("first", 3, str(files.location("first", 3)))
    store.complete_checkpoint("first", 3, 13)
    store.create_job("second", "q", physical=Planned("{}", 1, 1, False), state="RUNNING")
    return files, files.keep_savepoint("first", 3)


def test_a_savepoint_is_adopted_once_and_its_copy_is_not_rewritten(tmp_path: Path) -> None:
    files, savepoint = _files(tmp_path)
    assert files.adopt("second", savepoint) == 3
    restored = Checkpoints(files.directory("second"), "0.0", restore=3)
    value = Path(restored.path(3, "000-source").path, "value.json")
    before = value.stat()
    assert files.adopt("second", savepoint) == 3  # (as the first stage's step does)
    after = value.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert restored.load("000-source") == {"0": 148490}
    assert [(c["checkpoint_id"], c["state"]) for c in files.store.checkpoints("second")] == [
        (3, "COMPLETE")
    ]


def test_the_adopted_checkpoint_holds_what_the_savepoint_holds(tmp_path: Path) -> None:
    files, savepoint = _files(tmp_path)
    files.adopt("second", savepoint)
    kept = json.loads(Path(savepoint, "000-source@0.0", "value.json").read_text())
    assert Checkpoints(files.directory("second"), "0.0", restore=3).load("000-source") == kept
