"""New operator ids never clash with the ids a plan already holds, such as those of a plan
built in another process (the client's, optimized again by the JobManager)."""

from __future__ import annotations

import pyarrow as pa

from sabot_lab.logical import JobGraph, Limit, OperatorType, StreamOperatorNode, new_operator_id


def test_a_new_operator_skips_the_ids_the_graph_holds() -> None:
    graph = JobGraph()
    taken = int(new_operator_id(OperatorType.LIMIT).rsplit("_", 1)[1])
    for n in range(taken + 1, taken + 4):  # the ids the counter gives next
        graph.add_operator(StreamOperatorNode(f"limit_{n}", op=Limit(n=1), name="limit"))
    added = graph.add_new_operator(Limit(n=2), "limit", [f"limit_{taken + 1}"], pa.schema([]))
    assert added not in {f"limit_{n}" for n in range(taken + 1, taken + 4)}
    assert graph.node(added).upstream == (f"limit_{taken + 1}",)
