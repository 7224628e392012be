"""A DuckDB query or relation as a source, streamed as Arrow record batches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa

from sabot_lab.connectors.arrow import table_from_b64, table_to_b64
from sabot_lab.errors import SourceError
from sabot_lab.expr import Expr
from sabot_lab.logical.sources import SourceSpec, register_source
from sabot_lab.predicates import to_arrow_filter, with_decimal_constants

__all__ = ["DuckDBSource"]


@register_source
class DuckDBSource(SourceSpec):
    """Rows of a SQL query on a DuckDB database file, or of a DuckDB relation.

    A query on a database file is re-run on each scan over a fresh read-only connection. A
    relation (tied to its own connection) is scanned as it is; serializing it materializes
    its rows, since a connection cannot travel.
    """

    kind = "duckdb"

    def __init__(
        self,
        query: str | None = None,
        database: str = ":memory:",
        relation: duckdb.DuckDBPyRelation | None = None,
    ) -> None:
        if (query is None) == (relation is None):
            raise SourceError("from_duckdb takes a SQL string or a DuckDB relation")
        self.query = query
        self.database = database
        self.relation = relation
        self._rows: int | None = None  # the estimate, once asked for (-1: none)
        try:
            self._schema = self._relation().limit(0).to_arrow_table().schema
        except duckdb.Error as exc:
            raise SourceError(f"DuckDB cannot run the source query: {exc}") from exc

    def _relation(self) -> duckdb.DuckDBPyRelation:
        if self.relation is not None:
            return self.relation
        read_only = self.database != ":memory:"
        connection = duckdb.connect(self.database, read_only=read_only)
        assert self.query is not None
        return connection.sql(self.query)

    @property
    def schema(self) -> pa.Schema:
        return self._schema

    def accepts_filter(self, predicate: Expr) -> bool:
        return to_arrow_filter(predicate, self._schema) is not None  # the same exact subset

    def scan(
        self, batch_size: int, columns: list[str] | None = None, predicate: Expr | None = None
    ) -> Iterator[pa.RecordBatch]:
        relation = self._relation()
        if predicate is not None:
            relation = relation.filter(with_decimal_constants(predicate, self._schema).to_sql())
        if columns is not None:
            relation = relation.select(*(duckdb.ColumnExpression(c) for c in columns))
        reader = relation.to_arrow_reader(batch_size)
        for batch in reader:
            if batch.num_rows:
                yield batch

    def estimated_rows(self) -> int | None:
        """DuckDB's own cardinality estimate for the query, read from its plan (nothing runs).

        >>> DuckDBSource("SELECT * FROM range(1234)").estimated_rows()
        1234
        """
        if self._rows is None:
            explain = "EXPLAIN (FORMAT JSON) SELECT * FROM __sabot_source"
            try:
                result = self._relation().query("__sabot_source", explain)
                (_, plan), *_ = result.fetchall() if result is not None else []
                value = json.loads(plan)[0]["extra_info"].get("Estimated Cardinality", "")
            except (duckdb.Error, ValueError, LookupError):
                value = ""  # no estimate in this plan's shape: unknown
            self._rows = int(value) if str(value).isdigit() else -1
        return self._rows if self._rows >= 0 else None

    def describe(self) -> str:
        if self.query is not None:
            return f"duckdb {self.database}: {self.query}"
        return "duckdb relation"

    def to_dict(self) -> dict[str, Any]:
        if self.relation is not None or self.database == ":memory:":
            table = pa.Table.from_batches(list(self.scan(1 << 20)), schema=self._schema)
            return {"kind": self.kind, "table": table_to_b64(table)}
        return {"kind": self.kind, "query": self.query, "database": self.database}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceSpec:
        if "table" in data:
            from sabot_lab.connectors.arrow import ArrowSource

            return ArrowSource(table_from_b64(data["table"]))
        return cls(data["query"], data["database"])
