"""The record of what the optimizer changed and why.

>>> trace = RewriteTrace()
>>> trace.record("push_down_projections", ["source_1"], ["source_1"], "read 2 of 5 columns")
>>> print(trace.render())
1. push_down_projections: source_1 -> source_1: read 2 of 5 columns
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sabot_lab.logical import JobGraph
    from sabot_lab.optimizer.statistics import Memo, Statistics

__all__ = ["RewriteTrace", "RuleApplication", "format_rows"]


@dataclass(frozen=True)
class RuleApplication:
    """One change: which rule, which operators before and after, and why."""

    rule: str
    nodes_before: tuple[str, ...]
    nodes_after: tuple[str, ...]
    reason: str
    rows_before: float | None = None
    rows_after: float | None = None


class RewriteTrace:
    """Ordered list of rule applications of one optimization run.

    ``statistics``: what the optimizer was told about some operators (by id), for the rules
    that cost alternatives; the rest is estimated. ``estimates``: the estimates made so far
    in this run (a :data:`~sabot_lab.optimizer.statistics.Memo`), which every rule that costs
    alternatives and the trace's row counts pass to
    :func:`~sabot_lab.optimizer.statistics.estimate`: an operator a rule left as it was is
    estimated once per run, not once per rule.
    """

    def __init__(self, statistics: Mapping[str, Statistics] | None = None) -> None:
        self._applications: list[RuleApplication] = []
        self.statistics: Mapping[str, Statistics] = dict(statistics or {})
        self.estimates: Memo = {}
        self._snapshots: list[tuple[int, JobGraph]] = []

    def record(self, rule: str, before: Sequence[str], after: Sequence[str], reason: str) -> None:
        """Append one rule application."""
        self._applications.append(RuleApplication(rule, tuple(before), tuple(after), reason))

    def estimate_since(
        self, start: int, before: Mapping[str, float], after: Mapping[str, float]
    ) -> None:
        """Fill in estimated output rows of the applications from ``start`` on: the last
        operator before the rewrite in the old plan, the last one after it in the new plan."""
        for i in range(start, len(self._applications)):
            a = self._applications[i]
            rows_before = before.get(a.nodes_before[-1]) if a.nodes_before else None
            rows_after = after.get(a.nodes_after[-1]) if a.nodes_after else None
            self._applications[i] = replace(a, rows_before=rows_before, rows_after=rows_after)

    def estimate_lazily(self, snapshots: Sequence[tuple[int, JobGraph]]) -> None:
        """Fill in row estimates when the trace is first read: ``snapshots`` holds the plan
        before the first rule (at 0) and after each rule that changed it (at the index of its
        first application). Running a plan never pays for estimates nobody looks at."""
        self._snapshots = list(snapshots)

    def _resolve(self) -> None:
        if len(self._snapshots) < 2:
            return
        snapshots, self._snapshots = self._snapshots, []
        from sabot_lab.optimizer.statistics import estimate  # statistics needs the plan model

        rows = [
            {k: v.rows for k, v in estimate(g, self.statistics, self.estimates).items()}
            for _, g in snapshots
        ]
        for i in range(1, len(snapshots)):
            self.estimate_since(snapshots[i][0], rows[i - 1], rows[i])

    def __iter__(self) -> Iterator[RuleApplication]:
        self._resolve()
        return iter(self._applications)

    def __len__(self) -> int:
        return len(self._applications)

    def render(self) -> str:
        """One numbered line per application (``"(no rewrites)"`` when empty)."""
        self._resolve()
        if not self._applications:
            return "(no rewrites)"
        return "\n".join(
            f"{i}. {a.rule}: {', '.join(a.nodes_before)} -> {', '.join(a.nodes_after) or '(removed)'}"
            f": {a.reason}{_rows(a)}"
            for i, a in enumerate(self._applications, start=1)
        )


def format_rows(rows: float) -> str:
    """Compact row count: ``950``, ``12K``, ``3.4M``.

    >>> format_rows(950), format_rows(12_345), format_rows(3_400_000)
    ('950', '12K', '3.4M')
    """
    if rows < 1_000:
        return str(math.ceil(rows))
    if rows < 1_000_000:
        return f"{rows / 1_000:.0f}K"
    if rows < 1_000_000_000:
        return f"{rows / 1_000_000:.1f}M"
    return f"{rows / 1_000_000_000:.1f}G"


def _rows(a: RuleApplication) -> str:
    if a.rows_before is None or a.rows_after is None or a.rows_before == a.rows_after:
        return ""
    return f" [~{format_rows(a.rows_before)} → ~{format_rows(a.rows_after)} rows]"
