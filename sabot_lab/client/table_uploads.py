"""A plan's in-memory tables uploaded before it is submitted, so that it names them by id.

May import :mod:`sabot_lab.logical`, :mod:`sabot_lab.connectors` (the Arrow and uploaded
table sources), :mod:`sabot_lab.config`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from sabot_lab.config import get_config
from sabot_lab.connectors.arrow import ArrowSource
from sabot_lab.connectors.iterable import IterableSource
from sabot_lab.connectors.uploaded_tables import UploadedTable
from sabot_lab.logical import JobGraph
from sabot_lab.logical.sources import SourceSpec

if TYPE_CHECKING:
    from sabot_lab.client.cluster import Cluster

__all__ = ["in_memory_table", "upload_tables"]


def upload_tables(cluster: Cluster, graph: JobGraph) -> JobGraph:
    """``graph`` with each in-memory table (``from_arrow``, ``from_pandas``, ``from_pydict``,
    a ``from_iterable`` list: see :func:`in_memory_table`) of at least ``inline_table_bytes``
    (:class:`~sabot_lab.config.ClusterConfig`) uploaded to ``cluster``
    (:meth:`~sabot_lab.client.Cluster.upload_table`) and named by its id; smaller ones stay in
    the plan, and so do all of them when ``cluster`` takes no uploads
    (:meth:`~sabot_lab.client.Cluster.takes_uploads`). ``graph`` itself is left as it is.

    >>> import sabot_lab as sl
    >>> small = sl.from_pydict({"x": [1, 2]}).graph
    >>> from sabot_lab.client.cluster import Cluster
    >>> upload_tables(Cluster("grpc://127.0.0.1:1"), small) is small
    True
    """
    limit = get_config().cluster.inline_table_bytes
    large: dict[str, pa.Table] = {}
    for node in graph.sources():
        table = in_memory_table(node.parameters["source"])
        if table is not None and table.nbytes >= limit:
            large[node.operator_id] = table
    if not large or not cluster.takes_uploads():
        return graph
    uploaded = graph.copy()
    for node in graph.sources():
        if (table := large.get(node.operator_id)) is not None:
            source = UploadedTable(cluster.upload_table(table), table.schema, table.num_rows)
            uploaded.replace_operator(node.replace(op=node.op.replace(source=source)))
    return uploaded


def in_memory_table(source: SourceSpec) -> pa.Table | None:
    """The rows of an in-memory source as a table: an Arrow table's, or those of a
    ``from_iterable`` list; None for any other source.

    >>> import sabot_lab as sl
    >>> in_memory_table(ArrowSource(pa.table({"x": [1]}))).num_rows
    1
    """
    if isinstance(source, ArrowSource):
        return source.table
    if isinstance(source, IterableSource):
        return source.materialized()
    return None
