"""Names the expression doctests use without importing them: the builders, pyarrow, datetime
and the engine's :func:`~sabot_lab.engine.evaluate.evaluate` (the package itself never imports
the engine)."""

import datetime as dt

import pyarrow as pa
import pytest

from sabot_lab.engine.evaluate import evaluate
from sabot_lab.expr import col, concat_str, count, lit, when

_NAMES = {
    "col": col,
    "concat_str": concat_str,
    "count": count,
    "dt": dt,
    "evaluate": evaluate,
    "lit": lit,
    "pa": pa,
    "when": when,
}


@pytest.fixture(autouse=True)
def _doctest_names(request: pytest.FixtureRequest) -> None:
    """Add the names to a doctest's globals where its module has none of its own."""
    test = getattr(request.node, "dtest", None)
    if test is not None:
        for name, value in _NAMES.items():
            test.globs.setdefault(name, value)
