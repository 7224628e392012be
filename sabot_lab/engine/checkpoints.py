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
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sabot_lab.errors import PlanError

__all__ = ["Barrier", "Checkpoints", "checkpoint_path"]

_FINISHED = "_finished"  # the directory of a checkpoint's markers of ended tasks


def checkpoint_path(directory: str | os.PathLike[str], checkpoint: int) -> Path:
    """Where checkpoint ``checkpoint`` of the run (or job) checkpointing to ``directory`` is
    kept.

    >>> checkpoint_path("/c", 3).as_posix()
    '/c/chk-3'
    """
    return Path(directory) / f"chk-{checkpoint}"


@dataclass(frozen=True)
class Barrier:
    """Everything before this item belongs to checkpoint ``checkpoint``, nothing after it."""

    checkpoint: int


class Checkpoints:
    """The checkpoints of one run (or one task: ``scope`` names it) under ``directory``;
    ``restore``: the checkpoint the run starts from (None: from the beginning)."""

    def __init__(
        self, directory: str | os.PathLike[str], scope: str = "", restore: int | None = None
    ) -> None:
        self.directory = Path(directory)
        self.scope = scope
        self.restore = restore
        if restore is not None and not checkpoint_path(self.directory, restore).is_dir():
            taken = sorted(p.name for p in self.directory.glob("chk-*"))
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

    def path(self, checkpoint: int, operator_id: str) -> Path:
        """Where ``operator_id`` keeps its part of ``checkpoint`` (a directory)."""
        name = f"{operator_id}@{self.scope}" if self.scope else operator_id
        return checkpoint_path(self.directory, checkpoint) / name

    def restored(self, operator_id: str) -> Path | None:
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
            p for p in path.parent.iterdir()
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
        marker = self._finished_marker(checkpoint)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()

    def _finished_marker(self, checkpoint: int) -> Path:
        return checkpoint_path(self.directory, checkpoint) / _FINISHED / (self.scope or "run")

    @property
    def finished(self) -> bool:
        """Whether the checkpoint restored from marks this task finished (see
        :meth:`mark_finished`)."""
        if self.restore is None:
            return False
        return self._finished_marker(self.restore).exists()

    def save(self, checkpoint: int, operator_id: str, value: Any) -> None:
        """Keep a small JSON value (a source's position, an operator's counters)."""
        path = self.path(checkpoint, operator_id)
        path.mkdir(parents=True, exist_ok=True)
        partial = path / "value.json.partial"
        partial.write_text(json.dumps(value))
        partial.replace(path / "value.json")

    def load(self, operator_id: str) -> Any:
        """The value ``operator_id`` saved in the checkpoint restored from (None: the run
        does not restore)."""
        path = None if self.restore is None else self.restored(operator_id)
        return None if path is None else json.loads((path / "value.json").read_text())
