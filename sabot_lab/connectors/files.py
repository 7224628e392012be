"""Parquet, CSV and NDJSON files (one path, a directory, a glob or a list of them) as a source.

Which files are read is settled by :mod:`sabot_lab.connectors.file_paths`; how each format
is parsed by :mod:`sabot_lab.connectors.file_formats`. Files under ``key=value``
directories (hive partitioning) carry those keys as columns, and a filter on them skips
whole files unopened.

For checkpoints, a file source's (or split's) position is ``[file, row group, rows]``: every
file before ``file`` (in the source's order) was read, and in ``file`` the row groups before
``row group`` and the first ``rows`` rows of it (a CSV or NDJSON file is one group, number
0). A replay from it skips whole row groups unread and starts the group itself after those
rows; the filter and the columns of the read apply as in a first read.

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
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.config import get_config
from sabot_lab.connectors.csv_blocks import csv_batches, splittable
from sabot_lab.connectors.file_formats import CsvOptions, FileRead, JsonOptions
from sabot_lab.connectors.file_paths import PathsLike, hive_root, list_files
from sabot_lab.connectors.parquet_dictionaries import with_dictionary_reads
from sabot_lab.connectors.parquet_footers import file_fragment
from sabot_lab.connectors.parquet_ranges import integer_ranges
from sabot_lab.engine.stateless import filter_batch
from sabot_lab.errors import SourceError
from sabot_lab.expr import Expr
from sabot_lab.logical.layouts import engine_schema
from sabot_lab.logical.sources import ReplayableSource, SourceSpec, register_source
from sabot_lab.predicates import to_arrow_filter

if TYPE_CHECKING:
    import pyarrow.dataset as ds

__all__ = ["FileSource", "ScanStats"]

FORMATS = ("parquet", "csv", "json")
_WHOLE = 0  # the one "row group" of a CSV or NDJSON file
_HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


@dataclass(frozen=True)
class ScanStats:
    """What the latest scan of a file source read: files and (Parquet) row groups, columns."""

    row_groups_total: int
    row_groups_read: int
    columns: list[str]
    files_total: int
    files_read: int


def _partition_keys(files: list[str], root: str) -> dict[str, list[str]]:
    """The ``key=value`` directories of ``files`` below ``root``: each key's values (once a
    directory)."""
    keys: dict[str, list[str]] = {}
    for directory in dict.fromkeys(os.path.dirname(file) for file in files):
        for part in os.path.relpath(os.path.abspath(directory), root).split(os.sep):
            if "=" in part:
                key, value = part.split("=", 1)
                keys.setdefault(key, []).append(value)
    return keys


def _partition_type(values: list[str]) -> pa.DataType:
    """int64 when every value is an integer, else float64 when a number, else string."""
    present = [v for v in values if v != _HIVE_NULL]
    for kind in (pa.int64(), pa.float64()):
        try:
            pa.array(present, pa.string()).cast(kind)
            return kind
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return pa.string()


def _hive(
    files: list[str], paths: PathsLike, enabled: bool | None
) -> tuple[ds.Partitioning, str] | None:
    """The hive partitioning of ``files`` and its base directory; None when off (``enabled``
    None: on when one directory or glob was given and its files sit in ``key=value``
    directories)."""
    import pyarrow.dataset as ds

    if enabled is False:
        return None
    root = hive_root(paths)
    if root is None:
        if not enabled:
            return None
        root = os.path.commonpath([os.path.abspath(os.path.dirname(f)) for f in files])
    keys = _partition_keys(files, root)
    if not keys:
        return None
    schema = pa.schema([(key, _partition_type(values)) for key, values in keys.items()])
    return ds.HivePartitioning(schema, null_fallback=_HIVE_NULL), root


def _parquet_files(files: list[str], discovered: ds.Dataset | None = None) -> ds.Dataset:
    """The Parquet ``files`` as a dataset of their footers read once per process
    (:func:`~sabot_lab.connectors.parquet_footers.file_fragment`), in the engine's layouts
    (the reader decodes view layouts straight into string and binary columns); the schema is
    the first file's, as ``pyarrow.dataset`` infers it. ``discovered``: the files' dataset
    with their hive partitions, when they have some (else no discovery is needed). Local
    files are read through memory maps unless the ``memory_map`` setting is off."""
    import pyarrow.dataset as ds
    import pyarrow.fs as fs

    local = fs.LocalFileSystem(use_mmap=get_config().engine.memory_map)
    if discovered is None:
        outside = pc.scalar(True)  # the partition expression of a file outside partitions
        fragments = [file_fragment(f, local, outside) for f in files]
        # the schema from a fragment of its own: a file written just now has its footer read
        # when scanned, from the file as it is then, not kept from here
        schema = file_fragment(files[0], local, outside).physical_schema
    else:
        fragments = [
            file_fragment(
                f.path,
                local if isinstance(f.filesystem, fs.LocalFileSystem) else f.filesystem,
                f.partition_expression,
            )
            for f in discovered.get_fragments()
        ]
        schema = discovered.schema
    return ds.FileSystemDataset(
        fragments, engine_schema(schema), ds.ParquetFileFormat(), fragments[0].filesystem
    )


@register_source
class FileSource(ReplayableSource):
    """Rows of Parquet, CSV or NDJSON files read through ``pyarrow.dataset`` (threaded,
    streaming); ``options`` the CSV or NDJSON read options."""

    kind = "file"
    keeps_dictionaries = True

    def __init__(
        self,
        path: PathsLike,
        format: str = "parquet",
        pieces: list[tuple[str, list[int]]] | None = None,
        options: CsvOptions | JsonOptions | None = None,
        hive_partitioning: bool | None = None,
    ) -> None:
        if format not in FORMATS:
            raise SourceError(f"unknown file format {format!r}; use one of {', '.join(FORMATS)}")
        self.path: str | list[str] = (
            os.fspath(path) if isinstance(path, str | os.PathLike) else [os.fspath(p) for p in path]
        )
        self.last_scan: ScanStats | None = None
        self.format = format
        self.options = (
            options
            if options is not None or format == "parquet"
            else (CsvOptions() if format == "csv" else JsonOptions())
        )
        self.pieces = pieces  # (file, row groups) read by one split; None: everything
        files = list_files(self.path, format)
        import pyarrow.dataset as ds  # loads pandas: only when files are read

        hive = _hive(files, self.path, hive_partitioning)
        self.hive_partitioning = hive is not None
        keys = [] if hive is None else list(hive[0].schema)
        self._partition_keys = pa.schema(keys)
        try:
            self._read: FileRead | None = (
                None if self.options is None else self.options.resolve(files[0])
            )
            if self._read is None and hive is None:
                self._dataset = _parquet_files(files)
            else:
                self._dataset = ds.dataset(
                    files,
                    schema=None
                    if self._read is None
                    else pa.schema([*self._read.read_schema, *keys]),
                    format=format if self._read is None else self._read.format,
                    partitioning=None if hive is None else hive[0],
                    partition_base_dir=None if hive is None else hive[1],
                )
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceError(f"cannot read {format} source {self.path!r}: {exc}") from exc
        if self._read is None and hive is not None:
            self._dataset = _parquet_files(files, self._dataset)
        self._schema = self._dataset.schema
        if self._read is not None:
            self._schema = pa.schema([*self._read.schema, *keys])
        if pieces is not None:
            self._dataset = self._pieces(pieces)

    def _pieces(self, pieces: list[tuple[str, list[int]]]) -> ds.Dataset:
        """The row groups ``pieces`` of this source's files (a whole file for CSV and NDJSON),
        in file order, as a dataset (from the files already listed: no new discovery)."""
        import pyarrow.dataset as ds

        by_path = {f.path: f for f in self._dataset.get_fragments()}
        fragments = [
            by_path[file].subset(row_group_ids=groups)
            if self.format == "parquet"
            else by_path[file]
            for file, groups in pieces
        ]
        return ds.FileSystemDataset(
            fragments, self._dataset.schema, self._dataset.format, self._dataset.filesystem
        )

    @property
    def schema(self) -> pa.Schema:
        return self._schema

    def accepts_filter(self, predicate: Expr) -> bool:
        return to_arrow_filter(predicate, self._schema) is not None

    def prunes_only(self, predicate: Expr) -> bool:
        """True unless ``predicate`` reads partition keys only (decided file by file, no row
        of a file read is filtered out)."""
        return not set(predicate.columns()) <= set(self._partition_keys.names)

    def replay(
        self,
        batch_size: int,
        columns: list[str] | None = None,
        predicate: Expr | None = None,
        position: Any = None,
        encoded: Sequence[str] = (),
        filter_rows: bool = True,
    ) -> Iterator[tuple[pa.RecordBatch | None, Any]]:
        """The batches after ``position`` (None: from the start), each with the position
        after it (see the module docstring); None for a batch the filter left empty.
        ``encoded``: text columns that stay dictionary-encoded (the engine's
        pipeline-internal encoding, for a consumer that groups by them) when every Parquet
        file read stores them so (:mod:`~sabot_lab.connectors.parquet_dictionaries`), and
        always in CSV files (:meth:`FileRead.with_dictionaries`). ``filter_rows`` False: the
        ``predicate`` prunes files and row groups only, and each batch has its columns as
        read, after ``columns`` (``prunes_only``)."""
        arrow_filter = None
        if predicate is not None:
            arrow_filter = to_arrow_filter(predicate, self._schema)
            if arrow_filter is None:
                raise SourceError(f"{self.format} source cannot apply the filter {predicate!r}")
        import pyarrow.dataset as ds

        parts = {part.path: part for part in self._parts(arrow_filter, columns, position)}
        read = columns
        if predicate is not None and columns is not None:
            read = columns + [c for c in predicate.columns() if c not in columns]
        if predicate is not None and self._holds_in_every_row(predicate, parts.values()):
            predicate = None  # decided by the files' partition keys: no row to filter
            if filter_rows:  # (else the step after marking the rows reads its columns)
                read = columns
        fragments = [part.fragment for part in parts.values()]
        schema, file_read = self._dataset.schema, self._read
        decoded: list[str] = []  # read as dictionaries for the filter, decoded after it
        if self.format == "parquet" and file_read is None:
            fragments = with_dictionary_reads(
                fragments, read or self._schema.names, self._schema, encoded
            )
            filtered = [] if predicate is None else predicate.columns()
            schema = _with_dictionaries(schema, fragments, [*encoded, *filtered])
            decoded = [c for c in filtered if c not in encoded and c in schema.names]
            decoded = [c for c in decoded if pa.types.is_dictionary(schema.field(c).type)]
        elif file_read is not None and encoded:
            file_read = file_read.with_dictionaries(encoded)
            keys = list(schema)[len(file_read.read_schema) :]  # hive partitions' columns
            schema = pa.schema([*file_read.read_schema, *keys])
        dataset = ds.FileSystemDataset(
            fragments, schema, self._dataset.format, self._dataset.filesystem
        )
        # Files and row groups are pruned by the filter above (partition keys, statistics);
        # the rows themselves are filtered here, by the engine's kernels, which cost half of
        # the dataset scanner's filtering on 10 M rows.
        batches = _file_batches(dataset, read, batch_size, file_read, self.hive_partitioning)
        for path, batch in batches:
            part = parts[path]
            start, part.read = part.read, part.read + batch.num_rows
            if start < part.skip:  # read already before the position
                batch = batch.slice(part.skip - start)
            if file_read is not None:
                batch = file_read.conform(batch)
            if filter_rows and predicate is not None and batch.num_rows:
                batch = filter_batch(batch, predicate, columns)
            if filter_rows and decoded and batch is not None:
                batch = _decoded(batch, decoded, self._schema)
            yield (batch if batch is not None and batch.num_rows else None), part.position()

    def _holds_in_every_row(self, predicate: Expr, parts: Iterable[_Part]) -> bool:
        """True when ``predicate`` reads partition keys only and the keys of each file of
        ``parts`` satisfy it: every row of those files does."""
        import pyarrow.dataset as ds

        keys = self._partition_keys
        if not keys.names or not set(predicate.columns()) <= set(keys.names):
            return False
        rows = [ds.get_partition_keys(part.fragment.partition_expression) for part in parts]
        if not rows:
            return False
        batch = pa.RecordBatch.from_pylist([{k: r.get(k) for k in keys.names} for r in rows], keys)
        kept = filter_batch(batch, predicate)
        return kept is not None and kept.num_rows == len(rows)

    def _files(self, arrow_filter: pc.Expression | None) -> set[str] | None:
        """The files whose partition keys may satisfy the filter; None: all of them."""
        if arrow_filter is None or not self.hive_partitioning:
            return None
        try:
            return {f.path for f in self._dataset.get_fragments(filter=arrow_filter)}
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError):
            return None  # a filter the partition keys cannot decide: read every file

    def _parts(
        self, arrow_filter: pc.Expression | None, columns: list[str] | None, position: Any
    ) -> list[_Part]:
        """What a read from ``position`` goes through, file by file: files whose partition
        keys, and Parquet row groups whose statistics, may satisfy the filter (recorded in
        :attr:`last_scan`)."""
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
        kept_files = self._files(arrow_filter)
        parts, total, kept = [], 0, 0
        for i, fragment in enumerate(files):
            skip = int(position[2]) if position is not None and i == 0 else 0
            if self.format != "parquet":
                if kept_files is None or fragment.path in kept_files:
                    parts.append(_Part(fragment, [(_WHOLE, -1)], skip))
                continue
            groups = fragment.row_groups
            total += len(groups)
            if kept_files is not None and fragment.path not in kept_files:
                continue
            if arrow_filter is not None:
                groups = self._row_groups(fragment, arrow_filter)
            if position is not None and i == 0:
                groups = [g for g in groups if g.id >= int(position[1])]
                skip = skip if groups and groups[0].id == int(position[1]) else 0
            if not groups:
                continue
            kept += len(groups)
            if len(groups) != len(fragment.row_groups):
                fragment = fragment.subset(row_group_ids=[g.id for g in groups])
            parts.append(_Part(fragment, [(g.id, g.num_rows) for g in groups], skip))
        names = list(columns or self._schema.names)
        self.last_scan = ScanStats(total, kept, names, len(files), len(parts))
        return parts

    def _row_groups(self, fragment: Any, arrow_filter: pc.Expression) -> list[Any]:
        """The row groups of a Parquet ``fragment`` whose statistics may satisfy the filter;
        all of them if pyarrow cannot decide it (a column stored as ``string_view``)."""
        try:
            pieces = fragment.split_by_row_group(arrow_filter, schema=self._dataset.schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return list(fragment.row_groups)
        return [g for piece in pieces for g in piece.row_groups]

    def split(self, n: int) -> list[SourceSpec]:
        """Parquet: row groups dealt out in order, about the same number to each split; CSV
        and NDJSON: whole files."""
        if n <= 1:
            return [self]
        groups = [
            (f.path, group)
            for f in self._dataset.get_fragments()
            for group in ([g.id for g in f.row_groups] if self.format == "parquet" else [_WHOLE])
        ]
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
        if self.pieces:
            unit = "row groups" if self.format == "parquet" else "files"
            part = f" ({sum(len(g) for _, g in self.pieces)} {unit})"
        else:
            part = ""
        path = self.path if isinstance(self.path, str) else f"[{len(self.path)} paths]"
        return f"{self.format} {path}{part}"

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

    def integer_ranges(self) -> dict[str, tuple[int, int]]:
        """(min, max) of the Parquet files' integer columns, from their footers."""
        if self.format != "parquet":
            return {}
        return integer_ranges(self._dataset.get_fragments())

    def fingerprint(self) -> Hashable:
        """The files read (with their sizes and modification times), the row groups and
        the read options.

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
        options = repr(sorted(self.to_dict().get("options", {}).items()))
        return (self.kind, self.format, tuple(files), pieces, options, self.hive_partitioning)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "path": self.path,
            "format": self.format,
            "hive_partitioning": self.hive_partitioning,
        }
        if self.options is not None:
            data["options"] = self.options.to_dict()
        if self.pieces is not None:
            data["pieces"] = [[file, groups] for file, groups in self.pieces]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileSource:
        pieces, options = data.get("pieces"), data.get("options")
        kinds: dict[str, type[CsvOptions] | type[JsonOptions]] = {
            "csv": CsvOptions,
            "json": JsonOptions,
        }
        return cls(
            data["path"],
            data["format"],
            [(file, list(groups)) for file, groups in pieces] if pieces is not None else None,
            None if options is None else kinds[data["format"]].from_dict(options),
            data.get("hive_partitioning"),
        )


def _file_batches(
    dataset: ds.FileSystemDataset,
    columns: list[str] | None,
    batch_size: int,
    file_read: FileRead | None,
    partitioned: bool,
) -> Iterator[tuple[str, pa.RecordBatch]]:
    """The batches of ``dataset``'s files in order, each with its file's path: local CSV
    files (not ``partitioned``: no partition key columns to add) large enough to split, when
    every file is, parsed in blocks on ``Config.engine.threads`` threads
    (:mod:`~sabot_lab.connectors.csv_blocks`);
    otherwise by the dataset's scanner (reading files side by side)."""
    import pyarrow.fs

    paths = [fragment.path for fragment in dataset.get_fragments()]
    if (
        file_read is not None
        and isinstance(dataset.filesystem, pyarrow.fs.LocalFileSystem)
        and not partitioned
        and all(splittable(file_read, os.stat(path).st_size) for path in paths)
    ):
        names, threads = columns or file_read.read_schema.names, get_config().engine.threads
        for path in paths:
            batches = csv_batches(path, file_read, names, batch_size, threads=threads)
            yield from ((path, batch) for batch in batches)
        return
    scanner = dataset.scanner(
        columns=columns,
        batch_size=batch_size,
        use_threads=True,
        fragment_scan_options=None
        if file_read is None
        else file_read.format.default_fragment_scan_options,
    )
    for tagged in scanner.scan_batches():
        yield tagged.fragment.path, tagged.record_batch


def _with_dictionaries(
    schema: pa.Schema, fragments: Sequence[Any], encoded: Sequence[str]
) -> pa.Schema:
    """``schema`` with the ``encoded`` columns that every one of ``fragments`` reads through
    its dictionary (``dictionary_columns``) as dictionary types: the scanner keeps them so."""
    kept = set(encoded)
    for fragment in fragments:
        options = getattr(fragment.format, "read_options", None)
        kept &= set(options.dictionary_columns if options is not None else ())
    if not kept or not fragments:
        return schema
    return pa.schema(
        [f.with_type(pa.dictionary(pa.int32(), f.type)) if f.name in kept else f for f in schema]
    )


def _decoded(batch: pa.RecordBatch, names: Sequence[str], schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with its columns ``names`` (those it has) of their types in ``schema``: the
    text columns read as dictionaries for a filter, decoded for the rows it kept."""
    present = set(names) & set(batch.schema.names)
    if not present:
        return batch
    return batch.cast(
        pa.schema(
            [
                f.with_type(schema.field(f.name).type) if f.name in present else f
                for f in batch.schema
            ]
        )
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
