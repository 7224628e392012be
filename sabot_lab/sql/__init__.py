"""SQL onto streams: ``sl.sql(query, **tables)`` parses a query with ``sqlglot`` and builds the
:class:`~sabot_lab.stream.Stream` that computes it, a lazy pipeline like any other (the
optimizer sees every expression).

Supported: ``SELECT`` (``*``, ``t.*``, aliases, expressions), ``WHERE``, ``[INNER] / LEFT /
RIGHT / SEMI / ANTI JOIN`` with ``ON`` or ``USING``, ``GROUP BY``, ``HAVING``, ``ORDER BY``
(``ASC``, ``DESC``, ``NULLS FIRST/LAST``), ``LIMIT``/``OFFSET``, ``DISTINCT``, ``CASE``,
``CAST``, ``IN``, ``BETWEEN``, ``LIKE``/``ILIKE``, ``IS [NOT] NULL``, ``COALESCE``, ``NULLIF``,
``GREATEST``/``LEAST``, math (``ABS``, ``ROUND``, ``FLOOR``, ``CEIL``, ``SQRT``, ``POWER``,
``EXP``, ``LN``, ``LOG``, ``LOG10``, ``SIGN``, ``MOD``), string functions (``SUBSTRING``,
``CONCAT``, ``||``, ``TRIM``, ``REPLACE``, ``LEFT``, ``RIGHT``…), dates, timestamps and
intervals as DuckDB computes them (``DATE '1994-01-01' + INTERVAL '1' YEAR``, ``date - date``,
``EXTRACT``, ``DATE_PART``, ``DATE_DIFF``, ``DATE_TRUNC``…; timestamps with a zone in UTC),
``COUNT``/``SUM``/``AVG``/``MIN``/``MAX``, ``COUNT(DISTINCT x)``, ``WITH``, ``UNION [ALL]``,
``EXCEPT``, ``INTERSECT``, subqueries in ``FROM``, window functions (``ROW_NUMBER``, ``RANK``,
``DENSE_RANK``, ``NTILE``, ``PERCENT_RANK``, ``CUME_DIST``, ``LAG``, ``LEAD``, ``FIRST_VALUE``,
``LAST_VALUE``, ``NTH_VALUE``, ``SUM``/``COUNT``/``AVG``/``MIN``/``MAX`` ``OVER (PARTITION BY
... ORDER BY ... ROWS|RANGE ...)``) with ``QUALIFY`` (module ``windows``), and the window table
functions ``TUMBLE``, ``HOP`` and ``SESSION`` of Flink SQL. Scripts: statements
separated by ``;``, with ``CREATE [OR REPLACE] [TEMP] VIEW`` and ``DROP VIEW [IF EXISTS]``;
:class:`SQLContext` keeps tables and views between scripts.

Subqueries in expressions (:mod:`~sabot_lab.sql.subqueries`), decorrelated into joins: scalar
subqueries in ``SELECT``, ``WHERE`` and ``HAVING`` (uncorrelated, or correlated by equalities
``inner.k = outer.k``; in a grouped query's ``SELECT`` and ``HAVING`` uncorrelated),
``[NOT] EXISTS`` and ``x [NOT] IN (SELECT y ...)`` (uncorrelated or correlated by equalities;
as a ``WHERE`` condition joined by ``AND`` also by other conditions such as ``inner.a <>
outer.a``), with SQL's NULLs for ``NOT IN``. Anything else raises
:class:`~sabot_lab.errors.SQLError` naming the construct as written and its line and column.

Modules: ``parse`` (the dialect), ``context`` (names in scope), ``relation`` (a stream with its
SQL names), ``select`` (queries), ``expressions``, ``dates`` (intervals, date parts and
differences), ``grouping``, ``joins``, ``subqueries``, ``windows`` (``OVER``),
``window_tables`` (``TUMBLE``/``HOP``/``SESSION``), ``stream_joins`` (joins of streams:
interval, window and regular joins), ``catalog`` (tables and views by name),
``script`` (statements in order, views), ``session`` (``SQLContext``), ``functions`` (user
functions by name: ``register_function`` and a query's ``functions=``), ``expression_text``
(one SQL expression, as hand-built plans' parameters give them).

May import: :mod:`sabot_lab.stream` and what it builds on (expressions, window specs, errors),
``sqlglot``; never the client, the runtime nor the notebook plug-in. Importing the package is
light: :func:`sql` loads ``sqlglot`` and the translation on its first query.

>>> import sabot_lab as sl
>>> quotes = sl.from_pydict({"sid": [1, 2, 1], "price": [120.0, 90.0, 130.0], "size": [10, 5, 2]})
>>> secs = sl.from_pydict({"id": [1, 2], "sector": ["tech", "energy"]})
>>> out = sl.sql(
...     "SELECT sector, SUM(price * size) AS notional FROM quotes JOIN secs ON quotes.sid = secs.id "
...     "WHERE price > 100 GROUP BY sector ORDER BY notional DESC", quotes=quotes, secs=secs)
>>> out.collect().to_pydict()
{'sector': ['tech'], 'notional': [1460.0]}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sabot_lab.errors import SQLError
from sabot_lab.logical.parameters import register_sql_expressions
from sabot_lab.sql.catalog import Catalog
from sabot_lab.sql.expression_text import expression_from_sql
from sabot_lab.sql.functions import check_function, register_function, unregister_function
from sabot_lab.sql.session import SQLContext
from sabot_lab.stream import Stream

__all__ = ["SQLContext", "register_function", "sql", "unregister_function"]

register_sql_expressions(expression_from_sql)  # SQL text in the parameters of hand-built plans


def sql(
    query: str,
    tables: Mapping[str, Any] | None = None,
    /,
    *,
    functions: Mapping[str, Any] | None = None,
    **named: Any,
) -> Stream:
    """The :class:`~sabot_lab.stream.Stream` computing a SQL query over the given tables.

    Tables are passed as keywords (``quotes=stream``), or as a mapping for names that are not
    Python identifiers; each is a ``Stream``, a ``pyarrow.Table``/``RecordBatch`` or a pandas
    ``DataFrame``. Names in the query match tables and columns ignoring case. The result is
    lazy: ``collect()``, ``explain()``, ``submit(cluster)`` as for any stream. Semantics follow
    DuckDB's SQL dialect, which is also the parser's.

    ``query`` may be a script: statements separated by ``;``, run in order, the result being
    the stream of the last query (a script without a query is an error; statements after it,
    such as ``DROP VIEW``, run too). ``CREATE [OR REPLACE] [TEMP] VIEW [IF NOT EXISTS] name
    [(columns)] AS query`` defines a view and ``DROP VIEW [IF EXISTS] name`` drops one, with
    DuckDB's rules (a view is read as its query when a query reads it; a view cannot take a
    table's name; see :mod:`sabot_lab.sql.script`). The views last as long as the call; a
    :class:`SQLContext` keeps them between calls. ``CREATE TABLE ... AS`` is refused.

    Window table functions aggregate event-time windows (Flink SQL):
    ``FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(t), INTERVAL '10' SECONDS))``, also
    ``HOP(TABLE t, DESCRIPTOR(time), slide, size)`` and
    ``SESSION(TABLE t PARTITION BY key, DESCRIPTOR(time), gap)``, grouped by
    ``window_start, window_end`` and any other keys.

    Inner joins of two streams run as Flink runs them (:mod:`sabot_lab.sql.stream_joins`):
    a condition bounding the two sides' event times (``b.t BETWEEN a.t - INTERVAL '10'
    SECOND AND a.t``) makes an interval join, equal ``window_start``/``window_end`` of two
    windowed queries a window join, both freed by the watermark; any other equi-join of an
    unbounded stream keeps both sides' rows (``explain()`` says for how long).

    User functions (``@sl.udf``) are called by name: those of ``functions`` (for this query)
    and those registered with :func:`~sabot_lab.sql.functions.register_function`.

    Raises :class:`~sabot_lab.errors.SQLError` (with ``line`` and ``column`` in the whole
    script) for a syntax error, an unknown table or column (naming the closest match and the
    ones available), or a construct it does not translate (naming it as written).

    >>> import datetime as dt, sabot_lab as sl
    >>> at = [dt.datetime(2026, 1, 1, 0, 0, s) for s in (1, 4, 12, 13)]
    >>> bids = sl.from_pydict({"t": at, "auction": [1, 1, 1, 2], "price": [5, 7, 3, 9]})
    >>> sl.sql("SELECT auction, window_start, COUNT(*) AS n, MAX(price) AS top "
    ...        "FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(t), INTERVAL '10' SECONDS)) "
    ...        "GROUP BY auction, window_start, window_end ORDER BY window_start, auction",
    ...        bids=bids).collect().to_pydict()["top"]
    [7, 3, 9]
    >>> sl.sql("CREATE VIEW best (auction, top) AS SELECT auction, MAX(price) FROM bids GROUP BY 1;"
    ...        "SELECT * FROM best WHERE top > 8; DROP VIEW best", bids=bids).collect().to_pydict()
    {'auction': [2], 'top': [9]}
    >>> sl.sql("SELECT pricee FROM bids", bids=bids)
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SQLError: line 1, column 8: column 'pricee' not found. Did you mean 'price'? Available columns: t, auction, price
      SELECT pricee FROM bids
             ^
    """
    from sabot_lab.sql.script import run_script  # the SQL front end loads with the first query

    catalog = Catalog({**(tables or {}), **named})
    for name, fn in (functions or {}).items():
        check_function(name, fn)
        catalog.functions[name] = fn
    stream = run_script(query, catalog, inserts=False)
    if not isinstance(stream, Stream):
        raise SQLError(
            "the script has no query: sl.sql() returns the stream of its last SELECT (use "
            "sl.SQLContext().execute() to only define views)"
        )
    return stream
