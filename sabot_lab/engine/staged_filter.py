"""Evaluating a filter conjunct by conjunct, each on the rows the ones before it kept.

A conjunct that reads only dictionary-encoded columns (Parquet text columns read through
their dictionaries: TPC-H's ``l_shipmode IN ('AIR', 'AIR REG')``) is evaluated once per
distinct value and taken to the rows (:mod:`~sabot_lab.engine.distinct_strings`): far cheaper
than the others, and often selective, so those conjuncts come first. :func:`filter_stages`
lists them conjoined, then every other conjunct in the predicate's order; the engine narrows
the batch to the rows kept so far once they are at most a third (TPC-H Q6: its decimal ranges are
compared on the 15 % of the rows its date range keeps, not on all of them). A row is kept
when every conjunct is true, in any order; only an error a later conjunct would raise on a row
an earlier one drops is no longer raised (as in DuckDB).

>>> import pyarrow as pa
>>> from sabot_lab.expr import col
>>> schema = pa.schema([("mode", pa.dictionary(pa.int32(), pa.string())), ("n", pa.int64())])
>>> filter_stages((col("n") > 1) & col("mode").is_in(["AIR"]) & (col("n") < 5), schema)
(col("mode").is_in(['AIR']), (col("n") > 1), (col("n") < 5))
"""

from __future__ import annotations

import pyarrow as pa

from sabot_lab.engine.identity_cache import IdentityCache
from sabot_lab.expr import Expr
from sabot_lab.predicates import conjoin, split_conjunction

__all__ = ["filter_stages"]

_STAGES: IdentityCache[tuple[Expr, ...]] = IdentityCache(limit=1_024)
"""Each predicate's stages by its identity and dictionary-encoded columns: the same stages
for every batch, their plans found once."""


def filter_stages(predicate: Expr, schema: pa.Schema) -> tuple[Expr, ...]:
    """The conjuncts of ``predicate`` in the order a batch of ``schema`` is filtered by them:
    those that read only dictionary-encoded columns conjoined first, then the others.

    >>> from sabot_lab.expr import col
    >>> filter_stages(col("n") > 1, pa.schema([("n", pa.int64())]))
    ((col("n") > 1),)
    """
    coded = frozenset(f.name for f in schema if pa.types.is_dictionary(f.type))
    return _STAGES.get(predicate, lambda: _stages(predicate, coded), coded)


def _stages(predicate: Expr, coded: frozenset[str]) -> tuple[Expr, ...]:
    first: list[Expr] = []
    rest: list[Expr] = []
    for conjunct in split_conjunction(predicate):
        columns = conjunct.columns()
        (first if columns and set(columns) <= coded else rest).append(conjunct)
    return (conjoin(first), *rest) if first else tuple(rest)
