"""The record of what the optimizer changed and why.

>>> trace = RewriteTrace()
>>> trace.record("push_down_projections", ["source_1"], ["source_1"], "read 2 of 5 columns")
>>> print(trace.render())
1. push_down_projections: source_1 -> source_1: read 2 of 5 columns
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = ["RewriteTrace", "RuleApplication"]


@dataclass(frozen=True)
class RuleApplication:
    """One change: which rule, which operators before and after, and why."""

    rule: str
    nodes_before: tuple[str, ...]
    nodes_after: tuple[str, ...]
    reason: str


class RewriteTrace:
    """Ordered list of rule applications of one optimization run."""

    def __init__(self) -> None:
        self._applications: list[RuleApplication] = []

    def record(self, rule: str, before: Sequence[str], after: Sequence[str], reason: str) -> None:
        """Append one rule application."""
        self._applications.append(RuleApplication(rule, tuple(before), tuple(after), reason))

    def __iter__(self) -> Iterator[RuleApplication]:
        return iter(self._applications)

    def __len__(self) -> int:
        return len(self._applications)

    def render(self) -> str:
        """One numbered line per application (``"(no rewrites)"`` when empty)."""
        if not self._applications:
            return "(no rewrites)"
        return "\n".join(
            f"{i}. {a.rule}: {', '.join(a.nodes_before)} -> {', '.join(a.nodes_after)}: {a.reason}"
            for i, a in enumerate(self._applications, start=1)
        )
