"""The logical plan model: :class:`JobGraph` of :class:`StreamOperatorNode`.

>>> from sabot_lab.logical import OperatorType
>>> OperatorType.HASH_JOIN.value
'hash_join'
"""

from sabot_lab.logical.graph import (
    STATELESS,
    TIME_JOINS,
    WINDOWS,
    JobGraph,
    OperatorType,
    StreamOperatorNode,
    derived_operator_id,
    fused_members,
    new_operator_id,
)
from sabot_lab.logical.sources import SourceSpec, register_source, source_from_dict

__all__ = [
    "STATELESS",
    "TIME_JOINS",
    "WINDOWS",
    "JobGraph",
    "OperatorType",
    "SourceSpec",
    "StreamOperatorNode",
    "derived_operator_id",
    "fused_members",
    "new_operator_id",
    "register_source",
    "source_from_dict",
]
