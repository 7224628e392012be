"""Checkpoints: consistent snapshots of a running streaming job, taken with aligned barriers.

When checkpoint ``N`` is requested (:meth:`Checkpoints.request`), every source records its
position after the batch it just sent and sends a :class:`Barrier` ``N`` downstream, among its
batches. The barrier travels through every operator in order, like a watermark. An operator
with several inputs passes it on once it came from all of them, reading no further from an
input whose barrier arrived until then (alignment); a stateful operator snapshots its state
when the barrier reaches it, after every row before it. When barrier ``N`` has come out of
the job, the snapshots and positions under ``chk-N`` describe one moment of the whole job:
restoring them and reading the sources from their positions gives the rows that came after
the barrier, each once (Chandy-Lamport, as in Flink's asynchronous barrier snapshots).

Checkpoints live under a :class:`~sabot_lab.location.Location`: a local directory or any
``pyarrow.fs`` URI (an object store every agent reaches). A state backend that snapshots
incrementally keeps files several checkpoints share under ``shared/`` (see
:meth:`Checkpoints.shared`); each part lists the shared files it uses in ``shared.json``, so
the files no retained checkpoint lists can be removed (:func:`remove_unshared`).

A task that had ended before a checkpoint's barrier reached it is marked finished in it
(:meth:`Checkpoints.mark_finished`): restored from that checkpoint, it reads nothing again
(:attr:`Checkpoints.finished`), since all it sent was before the barrier.

>>> import tempfile
>>> cp = Checkpoints(tempfile.mkdtemp())
>>> cp.request(), cp.requested()
(1, 1)
>>> cp.save(1, "source_1", {"position": 42})
>>> Checkpoints(cp.directory, restore=1).load("source_1")
{'position': 42}
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from sabot_lab.engine.state.backend import SHARED_LIST
from sabot_lab.errors import PlanError
from sabot_lab.location import Location, LocationLike

__all__ = [
    "SHARED",
    "Checkpoints",
    "checkpoint_bytes",
    "checkpoint_path",
    "remove_unshared",
    "shared_files",
]

_FINISHED = "_finished"  # the directory of a checkpoint's markers of ended tasks
SHARED = "shared"
"""The directory, next to the ``chk-N`` ones, of files several checkpoints share."""


def checkpoint_path(directory: LocationLike, checkpoint: int) -> Location:
    """Where checkpoint ``checkpoint`` of the run (or job) checkpointing to ``directory`` is
    kept.

    >>> str(checkpoint_path("/c", 3)), str(checkpoint_path("s3://b/c", 3))
    ('/c/chk-3', 's3://b/c/chk-3')
    """
    return Location.of(directory) / f"chk-{checkpoint}"


def checkpoint_bytes(location: LocationLike) -> int:
    """The size of a checkpoint: its own files and the shared files first written for it.

    >>> import tempfile
    >>> cp = Checkpoints(tempfile.mkdtemp())
    >>> cp.save(1, "source_1", {"position": 42})
    >>> checkpoint_bytes(checkpoint_path(cp.directory, 1))
    16
    """
    return _parts_bytes(Location.of(location), lambda part: True)


def _parts_bytes(checkpoint: Location, ours: Callable[[str], bool]) -> int:
    """The bytes of the files of the parts of ``checkpoint`` whose name ``ours`` accepts,
    with the shared files first written for each (its ``shared.json`` says how many): one
    listing of the checkpoint, not a few requests for each part (on an object store each
    is a round trip)."""
    total = 0
    for path, size in checkpoint.files():
        part, _, name = path.partition("/")
        if not ours(part):
            continue
        total += size
        if name == SHARED_LIST:
            total += json.loads((checkpoint / path).read_text())["added"]
    return total


def shared_files(checkpoint: LocationLike) -> list[str]:
    """The shared files a checkpoint uses, as paths under its run's ``shared`` directory.

    >>> import tempfile
    >>> shared_files(checkpoint_path(tempfile.mkdtemp(), 1))
    []
    """
    checkpoint = Location.of(checkpoint)
    used = []
    for path, _ in checkpoint.files():  # (one listing, see _parts_bytes)
        part, _, name = path.partition("/")
        if name == SHARED_LIST:
            listed = json.loads((checkpoint / path).read_text())["files"]
            used += [f"{part}/{file}" for file in listed]
    return used


def remove_unshared(directory: LocationLike) -> int:
    """Remove the shared files of a run's checkpoints that none of its ``chk-N`` lists
    (they belonged to removed checkpoints); the number removed. Call it only while no
    checkpoint is being taken (one being taken may have written files it lists only later).
    """
    directory = Location.of(directory)
    shared = directory / SHARED
    used: set[str] = set()
    for checkpoint in directory.children():
        if checkpoint.name.startswith("chk-"):
            used.update(shared_files(checkpoint))
    removed = 0
    for name, _ in shared.files():
        if name not in used:
            (shared / name).delete()
            removed += 1
    return removed


class Checkpoints:
    """The checkpoints of one run (or one task: ``scope`` names it) under ``directory``;
    ``restore``: the checkpoint the run starts from (None: from the beginning)."""

    def __init__(
        self, directory: LocationLike, scope: str = "", restore: int | None = None
    ) -> None:
        self.directory = Location.of(directory)
        self.scope = scope
        self.restore = restore
        if restore is not None and not checkpoint_path(self.directory, restore).is_dir():
            taken = [p.name for p in self.directory.children() if p.name.startswith("chk-")]
            raise PlanError(
                f"there is no checkpoint {restore} in {self.directory} to restore; "
                f"it has {', '.join(taken) or 'none'}"
            )
        self._requested = 0 if restore is None else restore
        self._lock = threading.Lock()

    def request(self, upto: int | None = None) -> int:
        """Ask the sources for the next checkpoint (or for every one up to ``upto``); the
        latest number asked for."""
        with self._lock:
            self._requested = self._requested + 1 if upto is None else max(self._requested, upto)
            return self._requested

    def requested(self) -> int:
        """The latest checkpoint asked for (0: none)."""
        return self._requested

    def _part(self, operator_id: str) -> str:
        return f"{operator_id}@{self.scope}" if self.scope else operator_id

    def path(self, checkpoint: int, operator_id: str) -> Location:
        """Where ``operator_id`` keeps its part of ``checkpoint`` (a directory)."""
        return checkpoint_path(self.directory, checkpoint) / self._part(operator_id)

    def shared(self, operator_id: str) -> Location:
        """Where ``operator_id`` keeps files several of its checkpoints share (a state
        backend's incremental snapshots); each part lists those it uses (see
        :data:`~sabot_lab.engine.state.backend.SHARED_LIST`)."""
        return self.directory / SHARED / self._part(operator_id)

    def restored(self, operator_id: str) -> Location | None:
        """The directory ``operator_id`` restores from (the run restores), or None when the
        checkpoint has nothing of this task (it had ended, or had not begun, when the
        checkpoint was taken: it starts afresh); an error names the operator when the task
        has parts but not this one (the checkpoint was taken for another pipeline)."""
        assert self.restore is not None, "the run does not restore a checkpoint"
        path = self.path(self.restore, operator_id)
        if path.exists():
            return path
        suffix = f"@{self.scope}" if self.scope else ""
        ours = [
            p for p in checkpoint_path(self.directory, self.restore).children()
            if p.name != _FINISHED and (p.name.endswith(suffix) if suffix else "@" not in p.name)
        ]  # fmt: skip
        if not ours:
            return None
        raise PlanError(
            f"checkpoint {self.restore} in {self.directory} has nothing for operator "
            f"{operator_id}: it was taken for another pipeline"
        )

    def mark_finished(self, checkpoint: int) -> None:
        """Record that this task had ended before ``checkpoint``'s barrier came.

        >>> import tempfile
        >>> cp = Checkpoints(tempfile.mkdtemp(), "1.0")
        >>> cp.mark_finished(3)
        >>> Checkpoints(cp.directory, "1.0", restore=3).finished
        True
        >>> Checkpoints(cp.directory, "1.1", restore=3).finished
        False
        """
        self._finished_marker(checkpoint).write_bytes(b"")

    def _finished_marker(self, checkpoint: int) -> Location:
        return checkpoint_path(self.directory, checkpoint) / _FINISHED / (self.scope or "run")

    @property
    def finished(self) -> bool:
        """Whether the checkpoint restored from marks this task finished (see
        :meth:`mark_finished`)."""
        if self.restore is None:
            return False
        return self._finished_marker(self.restore).exists()

    def part_bytes(self, checkpoint: int) -> int:
        """The size of this run's parts of ``checkpoint``: its operators' state, with the
        shared files first written for it.

        >>> import tempfile
        >>> cp = Checkpoints(tempfile.mkdtemp(), "1.0")
        >>> cp.save(1, "source_1", {"position": 42})
        >>> cp.part_bytes(1), Checkpoints(cp.directory, "1.1").part_bytes(1)
        (16, 0)
        """
        suffix = f"@{self.scope}" if self.scope else ""

        def ours(part: str) -> bool:
            return part != _FINISHED and (part.endswith(suffix) if suffix else "@" not in part)

        return _parts_bytes(checkpoint_path(self.directory, checkpoint), ours)

    def save(self, checkpoint: int, operator_id: str, value: Any) -> None:
        """Keep a small JSON value (a source's position, an operator's counters)."""
        (self.path(checkpoint, operator_id) / "value.json").write_text(json.dumps(value))

    def load(self, operator_id: str) -> Any:
        """The value ``operator_id`` saved in the checkpoint restored from (None: the run
        does not restore)."""
        path = None if self.restore is None else self.restored(operator_id)
        return None if path is None else json.loads((path / "value.json").read_text())
