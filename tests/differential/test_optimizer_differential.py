"""Every optimizer rule at once, differentially: random plans over random tables with nulls give
identical results optimized and unoptimized (multisets; in order where a sort defines it)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

import sabot_lab as sl
from tests.support.plans import plans
from tests.support.reference import assert_same_rows


@settings(max_examples=1600, deadline=None, suppress_health_check=list(HealthCheck))
@given(plans())
def test_optimized_plans_give_identical_results(plan: tuple[sl.Stream, bool]) -> None:
    stream, ordered = plan
    optimized = stream.collect()
    plain = stream.collect(optimize=False)
    assert optimized.schema == plain.schema
    assert_same_rows(optimized, plain, ordered=ordered)
