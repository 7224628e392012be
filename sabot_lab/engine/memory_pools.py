"""The Arrow allocator of the process while the engine runs (``Config.memory_pool``).

Pyarrow allocates through mimalloc by default, which hands the pages of freed buffers back
to the system soon after; a scan allocates and frees buffers of the same sizes batch after
batch and so faults them in again each time (TPC-H Q1 at scale 1: a quarter of its CPU). The
C library's ``malloc`` keeps them. :func:`use_memory_pool` makes the configured allocator
pyarrow's default; pyarrow's ``ARROW_DEFAULT_MEMORY_POOL`` environment variable, when set,
wins. Buffers allocated before keep their allocator.

>>> import pyarrow as pa
>>> use_memory_pool("system", environ={})
>>> pa.default_memory_pool().backend_name
'system'
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import pyarrow as pa

__all__ = ["use_memory_pool"]

_POOLS = {
    "system": pa.system_memory_pool,
    "mimalloc": pa.mimalloc_memory_pool,
    "jemalloc": pa.jemalloc_memory_pool,
}


def use_memory_pool(name: str, environ: Mapping[str, str] = os.environ) -> None:
    """Make the allocator ``name`` (a key of ``Config.memory_pool``'s choices) pyarrow's
    default, unless ``environ`` sets ``ARROW_DEFAULT_MEMORY_POOL``; nothing when it is the
    default already.

    >>> use_memory_pool("system", environ={})
    >>> use_memory_pool("jemalloc", environ={"ARROW_DEFAULT_MEMORY_POOL": "system"})
    >>> pa.default_memory_pool().backend_name
    'system'
    """
    if environ.get("ARROW_DEFAULT_MEMORY_POOL") or pa.default_memory_pool().backend_name == name:
        return
    pa.set_memory_pool(_POOLS[name]())
