"""A plan's in-memory tables uploaded before it is submitted, so that it names them by id.

May import :mod:`sabot_lab.logical`, :mod:`sabot_lab.connectors` (the Arrow and uploaded
table sources), :mod:`sabot_lab.config`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sabot_lab.config import get_config
from sabot_lab.connectors.arrow import ArrowSource
from sabot_lab.connectors.uploaded_tables import UploadedTable
from sabot_lab.logical import JobGraph

if TYPE_CHECKING:
    from sabot_lab.client.cluster import Cluster

__all__ = ["upload_tables"]


def upload_tables(cluster: Cluster, graph: JobGraph) -> JobGraph:
    """``graph`` with each in-memory table (``from_arrow``, ``from_pandas``, ``from_pydict``)
    of at least ``inline_table_bytes`` (:class:`~sabot_lab.config.ClusterConfig`) uploaded to
    ``cluster`` (:meth:`~sabot_lab.client.Cluster.upload_table`) and named by its id; smaller
    ones stay in the plan. ``graph`` itself is left as it is.

    >>> import sabot_lab as sl
    >>> small = sl.from_pydict({"x": [1, 2]}).graph
    >>> from sabot_lab.client.cluster import Cluster
    >>> upload_tables(Cluster("grpc://127.0.0.1:1"), small) is small
    True
    """
    limit = get_config().cluster.inline_table_bytes
    large = [
        node
        for node in graph.sources()
        if isinstance(node.parameters["source"], ArrowSource)
        and node.parameters["source"].table.nbytes >= limit
    ]
    if not large:
        return graph
    uploaded = graph.copy()
    for node in large:
        table = node.parameters["source"].table
        source = UploadedTable(cluster.upload_table(table), table.schema, table.num_rows)
        uploaded.replace_operator(node.replace(op=node.op.replace(source=source)))
    return uploaded
