"""The in-process execution engine: physical operators over Arrow record batches.

What lives here:

- :mod:`~sabot_lab.engine.executor`: lowers a logical plan into fused pipelines and runs
  them (:mod:`~sabot_lab.engine.pipeline`: a source and per-batch steps on worker threads,
  kept between runs by :mod:`~sabot_lab.engine.worker_pools`;
  :mod:`~sabot_lab.engine.shared`: one run read by several operators;
  :mod:`~sabot_lab.engine.operator_rows`: rows counted per operator).
- :mod:`~sabot_lab.engine.items`: what flows between operators at run time (batches,
  watermarks, checkpoint barriers, split marks).
- Operators without state across batches: :mod:`~sabot_lab.engine.stateless` (filter,
  project, map; :mod:`~sabot_lab.engine.filter_validity`: columns whose nulls a filter drops
  filtered without their bitmap), :mod:`~sabot_lab.engine.join` (hash join), :mod:`~sabot_lab.engine.aggregate`
  (two-phase hash aggregation), :mod:`~sabot_lab.engine.order` (sort, top-n, limit).
- Stateful streaming operators, each a :class:`~sabot_lab.engine.stream_operator.StreamOperator`
  run by its one driver: :mod:`~sabot_lab.engine.window_aggregate`,
  :mod:`~sabot_lab.engine.symmetric_join` (with :mod:`~sabot_lab.engine.interval_join`
  built on it), :mod:`~sabot_lab.engine.asof_join`,
  :mod:`~sabot_lab.engine.running`; what they share is in :mod:`~sabot_lab.engine.stateful`,
  their state in :mod:`sabot_lab.engine.state` (memory and RocksDB backends).
- Event time and checkpoints: :mod:`~sabot_lab.engine.watermarks`,
  :mod:`~sabot_lab.engine.merge` (inputs merged, watermarks combined, barriers aligned),
  :mod:`~sabot_lab.engine.checkpoints`.

What it may import: the physical and logical plans (:mod:`sabot_lab.physical`,
:mod:`sabot_lab.logical`), :mod:`sabot_lab.expr`, :mod:`sabot_lab.kernels` and the connectors,
besides ``config``, ``errors``, ``location`` and the window specs; never the runtime (agents,
JobManager), the clients or the notebook. :mod:`sabot_lab.engine.state` imports nothing of
the engine outside itself.

>>> from sabot_lab.engine import Executor
>>> Executor.__name__
'Executor'
"""

from sabot_lab.engine.executor import Executor

__all__ = ["Executor"]
