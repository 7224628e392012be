"""Splitting a filter into the conjuncts that read dictionary-encoded text alone and the rest.

A conjunct that reads only dictionary-encoded columns (Parquet text columns read through
their dictionaries: TPC-H's ``l_shipmode IN ('AIR', 'AIR REG')``) is evaluated once per
distinct value and taken to the rows (:mod:`~sabot_lab.engine.distinct_strings`): far cheaper
than the others, and often selective. :func:`dictionary_conjuncts_first` splits a predicate so
that those conjuncts filter the batch first and the others are evaluated only on the rows they
keep. A row is kept when every conjunct is true, in any order; only an error a later conjunct
would raise on a row an earlier one drops is no longer raised (as in DuckDB).

>>> import pyarrow as pa
>>> from sabot_lab.expr import col
>>> schema = pa.schema([("mode", pa.dictionary(pa.int32(), pa.string())), ("n", pa.int64())])
>>> dictionary_conjuncts_first((col("n") > 1) & col("mode").is_in(["AIR"]), schema)
(col("mode").is_in(['AIR']), (col("n") > 1))
"""

from __future__ import annotations

import pyarrow as pa

from sabot_lab.expr import Expr
from sabot_lab.predicates import conjoin, split_conjunction

__all__ = ["dictionary_conjuncts_first"]

_SPLITS: dict[tuple[int, frozenset[str]], tuple[Expr, tuple[Expr, Expr] | None]] = {}
"""Each predicate's split by ``id`` and dictionary-encoded columns (the predicate kept, so
that its id is not reused): the same parts for every batch, their plans found once."""


def dictionary_conjuncts_first(predicate: Expr, schema: pa.Schema) -> tuple[Expr, Expr] | None:
    """The conjuncts of ``predicate`` that read only dictionary-encoded columns of ``schema``
    and the others, each conjoined; None when either part is empty.

    >>> from sabot_lab.expr import col
    >>> dictionary_conjuncts_first(col("n") > 1, pa.schema([("n", pa.int64())])) is None
    True
    """
    coded = frozenset(f.name for f in schema if pa.types.is_dictionary(f.type))
    if not coded:
        return None
    found = _SPLITS.get((id(predicate), coded))
    if found is not None and found[0] is predicate:
        return found[1]
    if len(_SPLITS) >= 1_024:
        _SPLITS.clear()
    split = _split(predicate, coded)
    _SPLITS[(id(predicate), coded)] = (predicate, split)
    return split


def _split(predicate: Expr, coded: frozenset[str]) -> tuple[Expr, Expr] | None:
    first: list[Expr] = []
    rest: list[Expr] = []
    for conjunct in split_conjunction(predicate):
        columns = conjunct.columns()
        (first if columns and set(columns) <= coded else rest).append(conjunct)
    if not first or not rest:
        return None
    return conjoin(first), conjoin(rest)
