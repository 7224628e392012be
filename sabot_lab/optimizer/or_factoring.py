"""Factoring an ``OR`` whose branches share conditions: ``(a & x) | (a & y) | (a & z)`` is
``a & (x | y | z)``, exactly, nulls included (three-valued logic distributes ``AND`` over
``OR``), and ``(a) | (a & y)`` is ``a`` (absorption). Taken out of the ``OR``, ``a`` can move
on its own: an equality between two joined inputs becomes the join's key (TPC-H Q19 repeats
``p_partkey = l_partkey`` in every branch), a condition on one input moves into its scan.
An ``OR`` also implies weaker conditions on fewer columns (:func:`implied_conditions`):
``(n1 = 'FRANCE' & n2 = 'GERMANY') | (n1 = 'GERMANY' & n2 = 'FRANCE')`` keeps only rows where
``n1 = 'FRANCE' | n1 = 'GERMANY'``, a condition that can move into ``n1``'s scan while the
``OR`` stays where it is (TPC-H Q7).

:func:`factor_branches` does it for conditions of any kind (the SQL front end factors its
parsed conditions with it, before it picks join keys); :func:`factor_or` for plan expressions
(the ``simplify_predicates`` rule applies it to every filter). May import ``expr`` and
``predicates``.

>>> from sabot_lab import col
>>> key = col("p_partkey") == col("l_partkey")
>>> mirrored = col("l_partkey") == col("p_partkey")
>>> factor_or((key & (col("p_size") < 5)) | ((col("p_size") > 9) & mirrored))
[(col("p_partkey") == col("l_partkey")), ((col("p_size") < 5) | (col("p_size") > 9))]
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from functools import reduce
from typing import TypeVar

from sabot_lab.expr import Expr
from sabot_lab.predicates import conjoin, is_deterministic, split_conjunction

__all__ = ["factor_branches", "factor_or", "implied_conditions"]

T = TypeVar("T")


def factor_branches(
    branches: Sequence[Sequence[T]], same: Callable[[T, T], bool]
) -> tuple[list[T], list[list[T]] | None]:
    """The conjuncts common to every branch of an ``OR`` (each branch a list of conjuncts),
    and every branch's other conjuncts; None instead of those when a branch has none left (the
    common conjuncts alone are then equivalent to the ``OR``).

    >>> factor_branches([["a", "x"], ["y", "a"]], str.__eq__)
    (['a'], [['x'], ['y']])
    >>> factor_branches([["a"], ["a", "y"]], str.__eq__)
    (['a'], None)
    >>> factor_branches([["x"], ["y"]], str.__eq__)
    ([], [['x'], ['y']])
    """
    first, *others = branches
    common: list[T] = []
    for condition in first:
        in_all = all(any(same(condition, c) for c in branch) for branch in others)
        if in_all and not any(same(condition, c) for c in common):
            common.append(condition)
    rests = [[c for c in branch if not any(same(c, k) for k in common)] for branch in branches]
    if common and any(not rest for rest in rests):
        return common, None
    return common, rests


def factor_or(predicate: Expr) -> list[Expr]:
    """The conjuncts of ``predicate`` with the conditions every branch of an ``OR`` repeats
    taken out of it (nested ``OR`` and ``AND`` flattened; a predicate without any is its own
    single conjunct).

    >>> from sabot_lab import col
    >>> factor_or(((col("a") == 1) & (col("b") > 2)) | (col("a") == 1))
    [(col("a") == 1)]
    >>> factor_or((col("a") == 1) | (col("b") == 2))
    [((col("a") == 1) | (col("b") == 2))]
    """
    if predicate.op == "and":
        return [c for arg in predicate.args for c in factor_or(arg)]
    if predicate.op != "or":
        return [predicate]
    branches = [split_conjunction(b) for b in _disjuncts(predicate)]
    common, rests = factor_branches(branches, _same)
    if not common:
        return [predicate]
    if rests is None:
        return common
    rest = conjoin(rests[0])
    for branch in rests[1:]:
        rest = rest | conjoin(branch)
    return [*common, *factor_or(rest)]


def implied_conditions(predicate: Expr) -> list[Expr]:
    """Conditions on fewer columns that an ``OR`` implies: for the columns of a condition of
    its first branch, the ``OR`` of every branch's conditions that read only those columns,
    when every branch has some. A row the ``OR`` keeps passes each of them (an ``AND`` is true
    only when all its conditions are), so adding them beside the ``OR`` changes no result.

    >>> from sabot_lab import col
    >>> implied_conditions(((col("a") == 1) & (col("b") == 2)) | ((col("a") == 3) & (col("b") > 4)))
    [((col("a") == 1) | (col("a") == 3)), ((col("b") == 2) | (col("b") > 4))]
    >>> implied_conditions((col("a") == 1) | (col("b") == 2))
    []
    """
    if predicate.op != "or":
        return []
    branches = [split_conjunction(b) for b in _disjuncts(predicate)]
    every = set(predicate.columns())
    implied: dict[frozenset[str], Expr] = {}
    for condition in branches[0]:
        columns = frozenset(condition.columns())
        if not columns or columns == every or columns in implied:
            continue
        parts = [[c for c in b if _reads_only(c, columns)] for b in branches]
        if all(parts):
            implied[columns] = reduce(operator.or_, map(conjoin, parts))
    return list(implied.values())


def _reads_only(condition: Expr, columns: frozenset[str]) -> bool:
    read = condition.columns()
    return bool(read) and is_deterministic(condition) and columns.issuperset(read)


def _same(a: Expr, b: Expr) -> bool:
    """Equal conditions, ``x == y`` and ``y == x`` too (never two calls of a function that is
    not deterministic: each call is its own value)."""
    if not is_deterministic(a):
        return False
    if a.equals(b):
        return True
    return a.op == b.op == "eq" and a.args[0].equals(b.args[1]) and a.args[1].equals(b.args[0])


def _disjuncts(predicate: Expr) -> list[Expr]:
    if predicate.op == "or":
        return [d for arg in predicate.args for d in _disjuncts(arg)]
    return [predicate]
