"""The logical plan: typed operators in a :class:`JobGraph`.

What lives here: the operator classes (one frozen dataclass per kind of operator, in
``operators``), the plan graph and its node (``graph``), the JSON codec of operator fields
(``codec``), the parameters hand-built plans give each operator type (``parameters``), the
source interface and registry connectors register their kinds in
(``sources``), the per-phase dispatch tables keyed by operator class (``dispatch``), and
which window functions a stream that never ends can run (``over_windows``).

What it may import: ``sabot_lab.expr`` and ``sabot_lab.errors`` (never connectors, the
optimizer, the engine or the runtime).

>>> from sabot_lab.logical import HashJoin, OperatorType
>>> OperatorType.HASH_JOIN.value, HashJoin.kind is OperatorType.HASH_JOIN
('hash_join', True)
"""

from sabot_lab.logical.dispatch import PhaseTable
from sabot_lab.logical.graph import (
    JobGraph,
    StreamOperatorNode,
    derived_operator_id,
    fused_members,
    new_operator_id,
)
from sabot_lab.logical.operators import (
    LEFT_BUILDS,
    Aggregate,
    AsofJoin,
    CascadedWindow,
    Distinct,
    Filter,
    FlatMap,
    Fused,
    GroupBy,
    HashJoin,
    IntervalJoin,
    Limit,
    Map,
    Operator,
    OperatorType,
    OverWindow,
    Project,
    RowIndex,
    SessionWindow,
    Sink,
    SlidingWindow,
    Sort,
    Source,
    SymmetricJoin,
    TopN,
    TumblingWindow,
    Union,
    Watermark,
    Window,
    WindowFunctions,
    join_output_names,
    operator_class,
    operator_classes,
)
from sabot_lab.logical.parameters import accepted_parameters, operator_from_parameters
from sabot_lab.logical.sources import SourceSpec, register_source, source_from_dict

__all__ = [
    "LEFT_BUILDS",
    "Aggregate",
    "AsofJoin",
    "CascadedWindow",
    "Distinct",
    "Filter",
    "FlatMap",
    "Fused",
    "GroupBy",
    "HashJoin",
    "IntervalJoin",
    "JobGraph",
    "Limit",
    "Map",
    "Operator",
    "OperatorType",
    "OverWindow",
    "PhaseTable",
    "Project",
    "RowIndex",
    "SessionWindow",
    "Sink",
    "SlidingWindow",
    "Sort",
    "Source",
    "SourceSpec",
    "StreamOperatorNode",
    "SymmetricJoin",
    "TopN",
    "TumblingWindow",
    "Union",
    "Watermark",
    "Window",
    "WindowFunctions",
    "accepted_parameters",
    "derived_operator_id",
    "fused_members",
    "join_output_names",
    "new_operator_id",
    "operator_class",
    "operator_classes",
    "operator_from_parameters",
    "register_source",
    "source_from_dict",
]
