"""Where the JobManager keeps checkpoints and savepoints, and what it does with their files:
adopt a savepoint as a new job's first checkpoint, find the checkpoint a new attempt starts
from, keep a savepoint, remove the parts of discarded checkpoints (and all of a job's
checkpoints once it finished or was deleted), and hand sources the positions saved in a
complete one. When checkpoints complete and which are discarded is the
scheduler's decision (:mod:`sabot_lab.runtime.jobmanager.scheduler`); the rows are in the
tables (:mod:`sabot_lab.runtime.jobmanager.store`).

May import ``engine.checkpoints`` (the layout), ``physical``, ``plan``, ``location``, the
job tables.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from sabot_lab.engine.checkpoints import (
    SHARED,
    Checkpoints,
    checkpoint_bytes,
    checkpoint_path,
    remove_unshared,
    shared_files,
)
from sabot_lab.engine.executor import checkpoint_names
from sabot_lab.errors import SabotError
from sabot_lab.location import Location
from sabot_lab.logical.sources import ReplayableSource
from sabot_lab.physical import PhysicalPlan, ProducerId
from sabot_lab.runtime.jobmanager.store import JobStore

__all__ = ["SAVEPOINT_FILE", "CheckpointFiles", "commit_source", "last_complete"]

SAVEPOINT_FILE = "savepoint.json"
"""The file that makes a directory a savepoint: the job and checkpoint it was taken from."""

_log = logging.getLogger("sabot_lab.jobmanager")


def last_complete(checkpoints: Iterable[dict[str, Any]]) -> int:
    """The number of the last COMPLETE checkpoint (0: none).

    >>> last_complete([{"checkpoint_id": 1, "state": "COMPLETE"},
    ...                {"checkpoint_id": 2, "state": "PENDING"}])
    1
    """
    return max((c["checkpoint_id"] for c in checkpoints if c["state"] == "COMPLETE"), default=0)


class CheckpointFiles:
    """The checkpoints (``checkpoints/<job>``) and savepoints (``savepoints/<job>``) under
    ``root``, recorded in ``store``."""

    def __init__(self, root: Location, store: JobStore) -> None:
        self.root, self.store = root, store

    def directory(self, job_id: str) -> Location:
        """Where a job's checkpoints are kept (its agents write there)."""
        return self.root / "checkpoints" / job_id

    def location(self, job_id: str, checkpoint: int) -> Location:
        """Where checkpoint ``checkpoint`` of a job is kept."""
        return checkpoint_path(self.directory(job_id), checkpoint)

    def size(self, job_id: str, checkpoint: int) -> int:
        """The bytes of a checkpoint's parts."""
        return checkpoint_bytes(self.location(job_id, checkpoint))

    def mark_finished(self, job_id: str, checkpoint: int, producers: Iterable[ProducerId]) -> None:
        """Mark tasks that ended before a checkpoint's barrier reached them finished in it:
        restored from it, they read nothing again."""
        for producer in producers:
            Checkpoints(self.directory(job_id), str(producer)).mark_finished(checkpoint)

    def remove(self, job_id: str, discarded: Iterable[int]) -> None:
        """Remove the parts of the ``discarded`` checkpoints, those of older checkpoints that
        never completed (tasks of a lost attempt may write them after it ended), and the
        shared files no checkpoint left uses."""
        for discard in discarded:
            self.location(job_id, discard).delete()
        kept = {c["checkpoint_id"] for c in self.store.checkpoints(job_id)
                if c["state"] == "COMPLETE"}  # fmt: skip
        for taken in self.directory(job_id).children():
            number = taken.name.removeprefix("chk-")
            if number.isdigit() and int(number) < max(kept, default=0) and int(number) not in kept:
                taken.delete()
        remove_unshared(self.directory(job_id))

    def drop(self, job_id: str) -> None:
        """Remove all of a job's checkpoints (not its savepoints: those stay until their
        owner removes them)."""
        self.directory(job_id).delete()

    def restore_point(self, job_id: str) -> int | None:
        """The checkpoint a new attempt of a job starts from: its last COMPLETE one (None:
        the beginning); the parts of later ones, never completed, are removed."""
        taken = self.store.checkpoints(job_id)
        done = last_complete(taken)
        for c in taken:
            if c["checkpoint_id"] > done:
                Location.of(c["location"]).delete()
        return done or None

    def adopt(self, job_id: str, savepoint: str) -> int:
        """Copy a savepoint into a new job's checkpoints as its first, COMPLETE one; return
        its number (the job's tasks start from it, its next checkpoint is the one after).
        Once adopted (recorded COMPLETE after the copy), again copies nothing: the job's
        tasks may be reading those files."""
        kept = Location.of(savepoint)
        number = int(json.loads((kept / SAVEPOINT_FILE).read_text())["checkpoint"])
        if number == last_complete(self.store.checkpoints(job_id)):
            return number
        target = self.location(job_id, number)
        for part in kept.children():
            if part.name == SHARED:
                part.copy_to(self.directory(job_id) / SHARED)
            else:
                part.copy_to(target / part.name)
        self.store.add_checkpoint(job_id, number, str(target))
        self.store.complete_checkpoint(job_id, number, checkpoint_bytes(target))
        return number

    def keep_savepoint(self, job_id: str, checkpoint: int) -> str:
        """Copy a complete checkpoint to the job's savepoints (never discarded), with the
        shared files it uses; return its path."""
        target = self.root / "savepoints" / job_id / f"savepoint-{checkpoint}"
        taken = self.location(job_id, checkpoint)
        taken.copy_to(target)
        shared = self.directory(job_id) / SHARED
        for name in shared_files(taken):  # self-contained: with the shared files it uses
            (shared / name).copy_to(target / SHARED / name)
        (target / SAVEPOINT_FILE).write_text(
            json.dumps({"job_id": job_id, "checkpoint": checkpoint})
        )
        return str(target)

    def source_positions(
        self, job_id: str, plan: PhysicalPlan, checkpoint: int
    ) -> list[tuple[ReplayableSource, Any]]:
        """Each replayable source of a job with each position its tasks saved in
        ``checkpoint`` (a task that had ended by then saved none)."""
        found = []
        for stage in plan.stages:
            names = checkpoint_names(stage.graph)
            for node in stage.graph.sources():
                source = node.parameters["source"]
                if not isinstance(source, ReplayableSource):
                    continue
                for partition in range(stage.partitions):
                    producer = str(ProducerId(stage.stage_id, partition))
                    saved = Checkpoints(self.directory(job_id), producer, restore=checkpoint)
                    position = saved.load(names[node.operator_id])
                    if position is not None:
                        found.append((source, position))
        return found


def commit_source(source: ReplayableSource, position: Any) -> None:
    """Hand ``source`` a position of a complete checkpoint (Kafka commits it as its group's
    offsets); a failure is logged: the next checkpoint commits again and the job goes on."""
    try:
        source.commit(position)
    except SabotError as exc:
        _log.warning("%s", exc)
