"""Parquet and CSV files (or directories of them) as a source, and the Parquet sink."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from sabot_lab.errors import SourceError
from sabot_lab.plan.sources import SourceSpec, register_source

__all__ = ["FileSource", "write_parquet"]

FORMATS = ("parquet", "csv")


@register_source
class FileSource(SourceSpec):
    """Rows of Parquet or CSV files read through ``pyarrow.dataset`` (threaded, streaming)."""

    kind = "file"

    def __init__(self, path: str | os.PathLike[str], format: str = "parquet") -> None:
        if format not in FORMATS:
            raise SourceError(f"unknown file format {format!r}; use one of {', '.join(FORMATS)}")
        self.path = os.fspath(path)
        self.format = format
        if not os.path.exists(self.path):
            raise SourceError(f"{format} source {self.path!r} does not exist")
        try:
            self._dataset = ds.dataset(self.path, format=format)
            self._schema = self._dataset.schema
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceError(f"cannot read {format} source {self.path!r}: {exc}") from exc

    @property
    def schema(self) -> pa.Schema:
        return self._schema

    def scan(self, batch_size: int, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        scanner = self._dataset.scanner(columns=columns, batch_size=batch_size, use_threads=True)
        for batch in scanner.to_batches():
            if batch.num_rows:
                yield batch

    def describe(self) -> str:
        return f"{self.format} {self.path}"

    def estimated_rows(self) -> int | None:
        if self.format != "parquet":
            return None
        return sum(
            fragment.metadata.num_rows
            for fragment in self._dataset.get_fragments()
            if isinstance(fragment, ds.ParquetFileFragment)
        )

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "format": self.format}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileSource:
        return cls(data["path"], data["format"])


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
