"""Parquet and CSV files (or directories of them) as a source, and the Parquet sink."""

from __future__ import annotations

import copy
import os
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from sabot_lab.engine.stateless import filter_batch
from sabot_lab.errors import SourceError
from sabot_lab.expr import Expr
from sabot_lab.plan.sources import SourceSpec, register_source
from sabot_lab.predicates import to_arrow_filter

__all__ = ["FileSource", "ScanStats", "write_parquet"]

FORMATS = ("parquet", "csv")


@dataclass(frozen=True)
class ScanStats:
    """What the latest scan of a Parquet source read: row groups and columns."""

    row_groups_total: int
    row_groups_read: int
    columns: list[str]


@register_source
class FileSource(SourceSpec):
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

    def scan(
        self, batch_size: int, columns: list[str] | None = None, predicate: Expr | None = None
    ) -> Iterator[pa.RecordBatch]:
        dataset, arrow_filter = self._dataset, None
        if predicate is not None:
            arrow_filter = to_arrow_filter(predicate, self._schema)
            if arrow_filter is None:
                raise SourceError(f"{self.format} source cannot apply the filter {predicate!r}")
        if self.format == "parquet":
            dataset = self._row_groups(arrow_filter, columns)
        # Row groups are pruned by the filter's statistics above; the rows themselves are
        # filtered here, by the engine's kernels, which cost half of the dataset scanner's
        # filtering on 10 M rows.
        read = columns
        if predicate is not None and columns is not None:
            read = columns + [c for c in predicate.columns() if c not in columns]
        scanner = dataset.scanner(columns=read, batch_size=batch_size, use_threads=True)
        for batch in scanner.to_batches():
            if predicate is not None:
                batch = filter_batch(batch, predicate, columns)
            if batch is not None and batch.num_rows:
                yield batch

    def _row_groups(
        self, arrow_filter: pc.Expression | None, columns: list[str] | None
    ) -> ds.Dataset:
        """The row groups whose statistics may satisfy the filter, recorded in :attr:`last_scan`."""
        files = list(self._dataset.get_fragments())
        total = sum(f.num_row_groups for f in files)
        if arrow_filter is None:
            kept = files
            read = total
        else:
            kept = [rg for f in files for rg in f.split_by_row_group(arrow_filter)]
            read = len(kept)
        self.last_scan = ScanStats(total, read, list(columns or self._schema.names))
        return ds.FileSystemDataset(
            kept, self._schema, self._dataset.format, self._dataset.filesystem
        )

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
