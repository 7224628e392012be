"""The in-process execution engine: physical operators over Arrow record batches.

>>> from sabot_lab.engine import Executor
>>> Executor.__name__
'Executor'
"""

from sabot_lab.engine.executor import Executor

__all__ = ["Executor"]
