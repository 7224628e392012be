"""Expressions: immutable trees the optimizer can see into, typed, rendered and serialized.

An :class:`Expr` is built with :func:`col`, :func:`lit`, operators and methods; it knows which
columns it reads (:meth:`Expr.columns`), its output name and type against a schema
(:meth:`Expr.output_field`), how to render as DuckDB SQL (:meth:`Expr.to_sql`) and how to
serialize (:meth:`Expr.to_dict`). The engine evaluates it on Arrow batches
(:func:`sabot_lab.engine.evaluate.evaluate`). Semantics follow SQL (DuckDB is the reference).

What lives here:

- ``nodes``: :class:`Expr` and one node class per operation family; the JSON codec
  (``to_dict``/``from_dict``)
- ``builders``: :func:`col`, :func:`lit`, :func:`duration`, :func:`when`, :func:`count`, :func:`concat_str`,
  :func:`max_horizontal`, :func:`min_horizontal`
- ``namespaces``: the ``.str`` and ``.dt`` functions
- ``types``: the type rules (a node's Arrow type from its inputs' types)
- ``render``: Python (``repr``) and DuckDB SQL rendering
- ``calendar``: DuckDB's date, timestamp and interval arithmetic (month ends, epochs)
- ``decimals``: DuckDB's decimal arithmetic (result types, constants, exact results, casts)
- ``literals``: literal values as JSON-safe data; ``dtypes``: type names

This package is pure data: it imports pyarrow and nothing of sabot_lab but
:mod:`sabot_lab.errors`.

>>> e = (col("price") * col("size")).alias("notional")
>>> e
(col("price") * col("size")).alias("notional")
>>> e.columns()
['price', 'size']
>>> e.to_sql()
'("price" * "size") AS "notional"'
"""

from sabot_lab.expr.builders import (
    col,
    concat_str,
    count,
    duration,
    lit,
    max_horizontal,
    min_horizontal,
    when,
)
from sabot_lab.expr.dtypes import parse_dtype
from sabot_lab.expr.nodes import AGGREGATES, HOLISTIC_AGGREGATES, Expr

__all__ = [
    "AGGREGATES",
    "HOLISTIC_AGGREGATES",
    "Expr",
    "col",
    "concat_str",
    "count",
    "duration",
    "lit",
    "max_horizontal",
    "min_horizontal",
    "parse_dtype",
    "when",
]
