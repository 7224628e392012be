"""Parquet and CSV files (or directories of them) as a source, and the Parquet sink.

For checkpoints, a file source's (or split's) position is ``[file, row group, rows]``: every
file before ``file`` (in the source's order) was read, and in ``file`` the row groups before
``row group`` and the first ``rows`` rows of it (a CSV file is one group, number 0). A replay
from it skips whole row groups unread and starts the group itself after those rows; the filter
and the columns of the read apply as in a first read.

>>> import tempfile, pyarrow as pa, pyarrow.parquet as pq
>>> path = tempfile.mkdtemp() + "/t.parquet"
>>> pq.write_table(pa.table({"x": range(10)}), path, row_group_size=4)
>>> source = FileSource(path)
>>> [(b["x"].to_pylist(), p[1:]) for b, p in source.replay(3)][:3]
[([0, 1, 2], [0, 3]), ([3], [0, 4]), ([4, 5, 6], [1, 3])]
>>> [b["x"].to_pylist() for b, _ in source.replay(3, position=[path, 1, 3]) if b is not None]
[[7], [8, 9]]
"""

from __future__ import annotations

import copy
import os
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sabot_lab.engine.stateless import filter_batch
from sabot_lab.errors import SourceError
from sabot_lab.expr import Expr
from sabot_lab.logical.sources import ReplayableSource, SourceSpec, register_source
from sabot_lab.predicates import to_arrow_filter

if TYPE_CHECKING:
    import pyarrow.dataset as ds

__all__ = ["FileSource", "ScanStats", "write_parquet"]

FORMATS = ("parquet", "csv")


@dataclass(frozen=True)
class ScanStats:
    """What the latest scan of a Parquet source read: row groups and columns."""

    row_groups_total: int
    row_groups_read: int
    columns: list[str]


@register_source
class FileSource(ReplayableSource):
    """Rows of Parquet or CSV files read through ``pyarrow.dataset`` (threaded, streaming)."""

    kind = "file"

    def __init__(
        self,
        path: str | os.PathLike[str],
        format: str = "parquet",
        pieces: list[tuple[str, list[int]]] | None = None,
    ) -> None:
        if format not in FORMATS:
            raise SourceError(f"unknown file format {format!r}; use one of {', '.join(FORMATS)}")
        self.path = os.fspath(path)
        self.last_scan: ScanStats | None = None
        self.format = format
        self.pieces = pieces  # (file, row groups) read by one split; None: everything
        if not os.path.exists(self.path):
            raise SourceError(f"{format} source {self.path!r} does not exist")
        import pyarrow.dataset as ds  # loads pandas: only when files are read

        try:
            self._dataset = ds.dataset(self.path, format=format)
            self._schema = self._dataset.schema
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceError(f"cannot read {format} source {self.path!r}: {exc}") from exc
        if pieces is not None:
            self._dataset = self._pieces(pieces)

    def _pieces(self, pieces: list[tuple[str, list[int]]]) -> ds.Dataset:
        """The row groups ``pieces`` of this source's files, in file order, as a dataset
        (from the files already listed: no new discovery)."""
        import pyarrow.dataset as ds

        by_path = {f.path: f for f in self._dataset.get_fragments()}
        fragments = [by_path[file].subset(row_group_ids=groups) for file, groups in pieces]
        return ds.FileSystemDataset(
            fragments, self._schema, self._dataset.format, self._dataset.filesystem
        )

    @property
    def schema(self) -> pa.Schema:
        return self._schema

    def accepts_filter(self, predicate: Expr) -> bool:
        return to_arrow_filter(predicate, self._schema) is not None

    def replay(
        self,
        batch_size: int,
        columns: list[str] | None = None,
        predicate: Expr | None = None,
        position: Any = None,
    ) -> Iterator[tuple[pa.RecordBatch | None, Any]]:
        """The batches after ``position`` (None: from the start), each with the position
        after it (see the module docstring); None for a batch the filter left empty."""
        arrow_filter = None
        if predicate is not None:
            arrow_filter = to_arrow_filter(predicate, self._schema)
            if arrow_filter is None:
                raise SourceError(f"{self.format} source cannot apply the filter {predicate!r}")
        import pyarrow.dataset as ds

        parts = {part.path: part for part in self._parts(arrow_filter, columns, position)}
        dataset = ds.FileSystemDataset(
            [part.fragment for part in parts.values()],
            self._schema,
            self._dataset.format,
            self._dataset.filesystem,
        )
        # Row groups are pruned by the filter's statistics above; the rows themselves are
        # filtered here, by the engine's kernels, which cost half of the dataset scanner's
        # filtering on 10 M rows.
        read = columns
        if predicate is not None and columns is not None:
            read = columns + [c for c in predicate.columns() if c not in columns]
        scanner = dataset.scanner(columns=read, batch_size=batch_size, use_threads=True)
        for tagged in scanner.scan_batches():
            part, batch = parts[tagged.fragment.path], tagged.record_batch
            start, part.read = part.read, part.read + batch.num_rows
            if start < part.skip:  # read already before the position
                batch = batch.slice(part.skip - start)
            if predicate is not None and batch.num_rows:
                batch = filter_batch(batch, predicate, columns)
            yield (batch if batch is not None and batch.num_rows else None), part.position()

    def _parts(
        self, arrow_filter: pc.Expression | None, columns: list[str] | None, position: Any
    ) -> list[_Part]:
        """What a read from ``position`` goes through, file by file: Parquet row groups
        whose statistics may satisfy the filter (recorded in :attr:`last_scan`)."""
        files = list(self._dataset.get_fragments())
        if position is not None:
            names = [f.path for f in files]
            if position[0] not in names:
                raise SourceError(
                    f"{self.format} source {self.path!r} has no file {position[0]!r} to resume "
                    f"reading from (checkpointed position {position}): its files changed since "
                    "the checkpoint; restore another checkpoint or run the job afresh"
                )
            files = files[names.index(position[0]) :]
        if self.format != "parquet":
            skip = int(position[2]) if position is not None else 0
            return [_Part(f, [(0, -1)], skip if i == 0 else 0) for i, f in enumerate(files)]
        parts, total, kept = [], 0, 0
        for i, fragment in enumerate(files):
            groups = fragment.row_groups
            total += len(groups)
            if arrow_filter is not None:
                pieces = fragment.split_by_row_group(arrow_filter)
                groups = [g for piece in pieces for g in piece.row_groups]
            skip = 0
            if position is not None and i == 0:
                groups = [g for g in groups if g.id >= int(position[1])]
                skip = int(position[2]) if groups and groups[0].id == int(position[1]) else 0
            if not groups:
                continue
            kept += len(groups)
            if len(groups) != len(fragment.row_groups):
                fragment = fragment.subset(row_group_ids=[g.id for g in groups])
            parts.append(_Part(fragment, [(g.id, g.num_rows) for g in groups], skip))
        self.last_scan = ScanStats(total, kept, list(columns or self._schema.names))
        return parts

    def split(self, n: int) -> list[SourceSpec]:
        """Parquet: row groups dealt out in order, about the same number to each split (CSV
        files are not split)."""
        if self.format != "parquet" or n <= 1:
            return [self]
        groups = [(f.path, g.id) for f in self._dataset.get_fragments() for g in f.row_groups]
        parts = max(1, min(n, len(groups)))
        splits: list[SourceSpec] = []
        for i in range(parts):
            chunk = groups[len(groups) * i // parts : len(groups) * (i + 1) // parts]
            pieces: dict[str, list[int]] = {}
            for file, group in chunk:
                pieces.setdefault(file, []).append(group)
            split = copy.copy(self)  # shares the opened dataset's files and filesystem
            split.pieces, split.last_scan = list(pieces.items()), None
            split._dataset = self._pieces(split.pieces)
            splits.append(split)
        return splits

    def describe(self) -> str:
        part = f" ({sum(len(g) for _, g in self.pieces)} row groups)" if self.pieces else ""
        return f"{self.format} {self.path}{part}"

    def estimated_rows(self) -> int | None:
        if self.format != "parquet":
            return None
        import pyarrow.dataset as ds

        return sum(
            group.num_rows
            for fragment in self._dataset.get_fragments()
            if isinstance(fragment, ds.ParquetFileFragment)
            for group in fragment.row_groups
        )

    def fingerprint(self) -> Hashable:
        """The files read (with their sizes and modification times) and the row groups.

        >>> import tempfile, pyarrow as pa, pyarrow.parquet as pq
        >>> path = tempfile.mkdtemp() + "/t.parquet"; pq.write_table(pa.table({"a": [1]}), path)
        >>> FileSource(path).fingerprint() == FileSource(path).fingerprint()
        True
        """
        files = []
        for fragment in self._dataset.get_fragments():
            info = self._dataset.filesystem.get_file_info(fragment.path)
            files.append((fragment.path, info.size, info.mtime_ns))
        pieces = tuple((file, tuple(groups)) for file, groups in self.pieces or ())
        return (self.kind, self.format, tuple(files), pieces)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "path": self.path, "format": self.format}
        if self.pieces is not None:
            data["pieces"] = [[file, groups] for file, groups in self.pieces]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileSource:
        pieces = data.get("pieces")
        return cls(
            data["path"],
            data["format"],
            [(file, list(groups)) for file, groups in pieces] if pieces is not None else None,
        )


class _Part:
    """One file of a read: its fragment, its row groups to read (``(id, rows)`` each, in
    order; a CSV file is ``[(0, -1)]``), the rows of the first one read before (``skip``),
    and the rows of it read so far (``read``, from the first group's start)."""

    def __init__(self, fragment: ds.Fragment, groups: list[tuple[int, int]], skip: int) -> None:
        self.fragment, self.groups, self.skip, self.read = fragment, groups, skip, 0
        self.path: str = fragment.path
        self._group, self._before = 0, 0  # the group the last row read is in; rows before it

    def position(self) -> list[Any]:
        """``[file, row group, rows of it read]`` after the rows read so far."""
        last = len(self.groups) - 1
        while self._group < last and self.read - self._before > self.groups[self._group][1]:
            self._before += self.groups[self._group][1]
            self._group += 1
        return [self.path, self.groups[self._group][0], self.read - self._before]


def write_parquet(
    batches: Iterable[pa.RecordBatch], schema: pa.Schema, path: str | os.PathLike[str]
) -> int:
    """Stream batches into one Parquet file; return the number of rows written.

    The file is written under a temporary name and renamed at the end, so a failed run never
    leaves a truncated file at ``path``.
    """
    target = os.fspath(path)
    staging = f"{target}.inprogress"
    rows = 0
    try:
        with pq.ParquetWriter(staging, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
                rows += batch.num_rows
        os.replace(staging, target)
    finally:
        if os.path.exists(staging):
            os.remove(staging)
    return rows
