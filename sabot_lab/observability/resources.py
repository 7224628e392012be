"""What an agent's host and process use (CPU, memory, I/O, from psutil), and when an agent
counts as overloaded: the agents report it with their heartbeats, resource-aware placement
prefers the less loaded ones, and the cluster view marks the overloaded.

May import psutil.

>>> sampler = ResourceSampler()
>>> sorted(sampler.sample())
['cpu_percent', 'memory_percent', 'read_bytes', 'rss_bytes', 'write_bytes']
>>> pressure({"cpu_percent": 95.0, "memory_percent": 40.0}), overloaded({"cpu_percent": 95.0})
(0.95, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psutil

__all__ = ["OVERLOADED", "ResourceSampler", "load_band", "overloaded", "pressure"]

OVERLOADED = 0.9
"""The share of its host's CPU or memory in use from which an agent is overloaded."""


class ResourceSampler:
    """Samples the host's CPU (in use since the previous sample) and memory, and this
    process's resident memory and bytes read and written."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        psutil.cpu_percent(interval=None)  # the first sample is measured from here

    def sample(self) -> dict[str, float]:
        """The figures now, named as :data:`~sabot_lab.runtime.protocol.AGENT_RESOURCES`
        names them."""
        out = {
            "cpu_percent": float(psutil.cpu_percent(interval=None)),
            "memory_percent": float(psutil.virtual_memory().percent),
            "rss_bytes": float(self._process.memory_info().rss),
            "read_bytes": 0.0,
            "write_bytes": 0.0,
        }
        try:
            io = self._process.io_counters()
            out["read_bytes"], out["write_bytes"] = float(io.read_bytes), float(io.write_bytes)
        except (AttributeError, psutil.Error):  # (not on every platform)
            pass
        return out


def pressure(agent: Mapping[str, Any]) -> float:
    """The larger share of its host's CPU and memory an agent reported in use (0 to 1; 0
    when it reported neither).

    >>> pressure({"cpu_percent": 20.0, "memory_percent": 60.0}), pressure({})
    (0.6, 0.0)
    """
    shares = [agent.get("cpu_percent"), agent.get("memory_percent")]
    return round(max((s / 100 for s in shares if s is not None), default=0.0), 4)


def load_band(agent: Mapping[str, Any]) -> int:
    """How loaded an agent is, coarsely, for placement to compare: 0 below half its host in
    use, 1 below :data:`OVERLOADED`, 2 overloaded (small differences between two samples
    do not move tasks).

    >>> [load_band({"cpu_percent": c}) for c in (10.0, 70.0, 95.0)]
    [0, 1, 2]
    """
    share = pressure(agent)
    return 0 if share < 0.5 else 1 if share < OVERLOADED else 2


def overloaded(agent: Mapping[str, Any]) -> bool:
    """Whether an agent reported its host's CPU or memory :data:`OVERLOADED`."""
    return pressure(agent) >= OVERLOADED
