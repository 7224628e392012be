"""On random plans, each operator's ``schema(inputs)`` is its plan node's schema and that of
the batches the engine outputs for it, as written, optimized, and with aggregates split in
phases as the physical planner splits them."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

import sabot_lab as sl
from sabot_lab.physical.planner import split_aggregates
from tests.support.plans import plans
from tests.support.schemas import checked_operators


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans())
def test_operators_compute_the_schemas_the_engine_outputs(case: tuple[sl.Stream, bool]) -> None:
    stream, _ = case
    checked_operators(stream.graph, stream.node_id)
    plan = stream.optimize()
    checked_operators(plan.graph, plan.output)
    checked_operators(split_aggregates(plan.graph), plan.output)
