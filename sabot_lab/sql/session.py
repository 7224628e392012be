"""``SQLContext``: tables and views kept between SQL scripts, with Polars' ``pl.SQLContext``
names (``register``, ``register_many``, ``unregister``, ``tables``, ``execute``, and ``with``
for tables and views that last one block).

May import: :mod:`sabot_lab.sql.catalog`, :mod:`sabot_lab.sql.functions` and the stream; the SQL front end (``sqlglot``) loads
with the first script.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sabot_lab.sql.catalog import Catalog
from sabot_lab.sql.functions import check_function
from sabot_lab.stream import Stream

if TYPE_CHECKING:
    from sabot_lab.client import Cluster, Job

__all__ = ["SQLContext"]


class SQLContext:
    """Tables and the views SQL scripts define, kept between calls (``sl.sql()`` forgets its
    views when it returns).

    Tables are streams, pyarrow Tables or RecordBatches, or pandas DataFrames, given by name as
    to :func:`~sabot_lab.sql.sql`. :meth:`execute` runs a script: its ``CREATE VIEW`` and
    ``DROP VIEW`` statements change the context's views, and it returns the stream of its
    last query (None if it has none). A view is read as its query, against the tables and
    views of the moment (as DuckDB does): registering a new table under a name changes what
    the views reading it give.

    As a context manager, the tables and views added inside the ``with`` block are dropped at
    its end (as in Polars).

    >>> import sabot_lab as sl
    >>> trades = sl.from_pydict({"sym": ["A", "B", "A"], "qty": [5, 7, 1]})
    >>> ctx = sl.SQLContext(trades=trades)
    >>> ctx.execute("CREATE VIEW big AS SELECT * FROM trades WHERE qty > 2")
    >>> ctx.execute("SELECT sym, SUM(qty) AS qty FROM big GROUP BY sym ORDER BY sym").collect().to_pydict()
    {'sym': ['A', 'B'], 'qty': [5, 7]}
    >>> ctx.tables()
    ['big', 'trades']
    >>> with ctx:
    ...     ctx.register("more", sl.from_pydict({"sym": ["C"], "qty": [9]})).tables()
    ['big', 'more', 'trades']
    >>> ctx.tables()
    ['big', 'trades']
    """

    def __init__(self, frames: Mapping[str, Any] | None = None, **named_frames: Any) -> None:
        self._catalog = Catalog()
        self._scopes: list[set[str]] = []
        self.register_many(frames, **named_frames)

    def __repr__(self) -> str:
        return f"<SQLContext [tables:{len(self.tables())}] at 0x{id(self):x}>"

    def __enter__(self) -> SQLContext:
        self._scopes.append(set(self.tables()))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.unregister(set(self.tables()) - self._scopes.pop())

    def register(self, name: str, frame: Any) -> SQLContext:
        """Make ``frame`` the table ``name``, in place of any table or view of that name.

        >>> import pyarrow as pa
        >>> SQLContext().register("t", pa.table({"x": [1]})).tables()
        ['t']
        """
        self._catalog.register(name, frame)
        return self

    def register_many(
        self, frames: Mapping[str, Any] | None = None, **named_frames: Any
    ) -> SQLContext:
        """Register several tables, from a mapping and as keywords.

        >>> import pyarrow as pa
        >>> SQLContext().register_many({"a b": pa.table({"x": [1]})}, c=pa.table({"y": [2]})).tables()
        ['a b', 'c']
        """
        for name, frame in {**(frames or {}), **named_frames}.items():
            self.register(name, frame)
        return self

    def register_function(self, name: str, fn: Any) -> SQLContext:
        """Make ``fn`` (an ``@sl.udf``) callable as ``name`` in this context's scripts (besides
        the functions registered with :func:`sabot_lab.register_function`).

        >>> import pyarrow as pa, sabot_lab as sl
        >>> half = sl.udf(lambda x: x / 2, return_dtype="float64")
        >>> ctx = SQLContext(t=pa.table({"x": [3]})).register_function("half", half)
        >>> ctx.execute("SELECT half(x) AS h FROM t").collect().to_pydict()
        {'h': [1.5]}
        """
        check_function(name, fn)
        self._catalog.functions[name] = fn
        return self

    def unregister(self, names: str | Collection[str]) -> SQLContext:
        """Forget tables or views by name (a name that is neither is ignored).

        >>> import pyarrow as pa
        >>> SQLContext(a=pa.table({"x": [1]}), b=pa.table({"x": [2]})).unregister(["a"]).tables()
        ['b']
        """
        for name in [names] if isinstance(names, str) else names:
            self._catalog.unregister(name)
        return self

    def tables(self) -> list[str]:
        """The names of the tables and views, sorted.

        >>> SQLContext().tables()
        []
        """
        return self._catalog.names()

    def views(self) -> dict[str, str]:
        """The views, each with the SQL of its query (as DuckDB's ``duckdb_views()`` lists them).

        >>> import pyarrow as pa
        >>> ctx = SQLContext(t=pa.table({"x": [1, 2]}))
        >>> ctx.execute("create view big as select x from t where x > 1")
        >>> ctx.views()
        {'big': 'SELECT x FROM t WHERE x > 1'}
        """
        return {name: view.sql for name, view in sorted(self._catalog.views.items())}

    def execute(
        self,
        query: str,
        *,
        cluster: Cluster | None = None,
        checkpoint_interval: float | None = None,
        partitions: int | None = None,
    ) -> Stream | Job | int | None:
        """Run a SQL script (statements separated by ``;``) over the tables and views: the
        result of its last query (a stream) or ``INSERT INTO``, or None if it only defines
        views, tables and functions. A failing statement raises
        :class:`~sabot_lab.errors.SQLError`; the statements before it keep their effect, as
        in DuckDB.

        Flink SQL's definitions last with the context: ``CREATE TABLE ... WITH ('connector' =
        ...)`` (Kafka topics, file directories, the Nexmark generator, blackhole and print
        sinks, see :mod:`sabot_lab.sql.connector_tables`) and ``CREATE FUNCTION name AS
        'module.function'`` (an ``@sl.udf``). ``INSERT INTO table SELECT ...`` writes a
        query's rows into such a table: with ``cluster``, as a job (its result, checkpointed
        every ``checkpoint_interval`` seconds, ``partitions`` tasks per stage), else here (a bounded query; its result is the
        number of rows written); see :mod:`sabot_lab.sql.insert`.

        >>> import pyarrow as pa
        >>> ctx = SQLContext(t=pa.table({"x": [1, 2, 3]}))
        >>> ctx.execute("CREATE TEMP VIEW odd AS SELECT x FROM t WHERE x % 2 = 1; DROP VIEW odd")
        >>> ctx.execute("SELECT * FROM odd")
        Traceback (most recent call last):
        ...
        sabot_lab.errors.SQLError: line 1, column 15: unknown table 'odd'. Available tables: t
          SELECT * FROM odd
                        ^
        """
        from sabot_lab.sql.script import run_script  # the SQL front end loads with the first

        return run_script(query, self._catalog, cluster, checkpoint_interval, partitions)
