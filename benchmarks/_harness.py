"""Timing helpers shared by the benchmark scripts (not a benchmark itself)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_ms(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of ``runs`` calls of ``fn`` in milliseconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def median_cpu_ms(
    fn: Callable[[], object], runs: int, between: Callable[[], object] | None = None
) -> tuple[float, float]:
    """Median wall time and median CPU time of this process (all its threads) of ``runs``
    calls of ``fn``, in milliseconds, after one warm-up call: CPU time gives per-core rates
    for work that uses more than one thread. ``between`` runs after each call, untimed
    (removing the files a call wrote, so that the next one does not pay for their
    write-back)."""
    fn()
    walls, cpus = [], []
    for _ in range(runs):
        if between is not None:
            between()
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


def interleaved_ms(fns: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median wall time of each of ``fns`` in milliseconds, the runs taken in turns (one of
    each, ``runs`` times, after a warm-up call of each) so that a noisy machine slows all of
    them alike."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1000 for name, t in times.items()}


def interleaved_wall_cpu_ms(
    fns: dict[str, Callable[[], object]], runs: int
) -> dict[str, tuple[float, float]]:
    """Median wall time and median CPU time of this process (all its threads) of each of
    ``fns`` in milliseconds, the runs taken in turns as :func:`interleaved_ms` takes them:
    on a machine shared with other work the CPU time of in-process engines compares them
    where their wall times mostly measure the others' load."""
    for fn in fns.values():
        fn()
    walls: dict[str, list[float]] = {name: [] for name in fns}
    cpus: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            walls[name].append(time.perf_counter() - wall)
            cpus[name].append(time.process_time() - cpu)
    return {
        name: (statistics.median(walls[name]) * 1000, statistics.median(cpus[name]) * 1000)
        for name in fns
    }
