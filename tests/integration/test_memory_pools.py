"""The Arrow allocator a query runs on, in a fresh process (the allocator is the process's,
set when its first query runs): jemalloc by default, the one ``SABOT_MEMORY_POOL`` names,
and pyarrow's own ``ARROW_DEFAULT_MEMORY_POOL`` before either."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = """
import pyarrow as pa, sabot_lab as sl
sl.from_pydict({"x": [1, 2]}).collect()
print(pa.default_memory_pool().backend_name)
"""


@pytest.mark.parametrize(
    ("environment", "pool"),
    [
        ({}, "jemalloc"),
        ({"SABOT_MEMORY_POOL": "system"}, "system"),
        ({"SABOT_MEMORY_POOL": "jemalloc", "ARROW_DEFAULT_MEMORY_POOL": "mimalloc"}, "mimalloc"),
    ],
)
def test_a_query_runs_on_the_configured_allocator(environment: dict[str, str], pool: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("MEMORY_POOL")}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={**env, **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [pool]
