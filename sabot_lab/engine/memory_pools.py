"""The Arrow allocator of the process while the engine runs (``Config.memory_pool``).

Pyarrow allocates through mimalloc by default, which hands the pages of freed buffers back
to the system soon after; a scan allocates and frees buffers of the same sizes batch after
batch and so faults them in again each time (TPC-H Q1 at scale 1: a quarter of its CPU).
jemalloc keeps them for a while and serves threads from their own caches: a Parquet scan
whose reader's threads allocate the batches the engine's workers free uses a quarter less
CPU than with the C library's ``malloc`` (one 6 M-row file grouped by a text key), the 22
TPC-H queries as much. :func:`use_memory_pool` makes the configured allocator pyarrow's
default (``jemalloc`` where pyarrow is built without it: the C library's); pyarrow's
``ARROW_DEFAULT_MEMORY_POOL`` environment variable, when set, wins. Buffers allocated before
keep their allocator.

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
    try:
        pool = _POOLS[name]()
    except NotImplementedError:  # a pyarrow built without it (jemalloc on Windows)
        pool = pa.system_memory_pool()
    pa.set_memory_pool(pool)
