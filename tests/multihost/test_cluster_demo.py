"""``make cluster-demo`` (:mod:`cluster.netns.demo`), at small sizes: the highly available
cluster on virtual hosts runs the fintech pipeline and Nexmark q5 through a killed leader and
a cut-off agent; its timeline tells what happened in order, every check passes (the results
equal DuckDB's, q5's sink has each row once), it exits 0, and no namespace of it is left."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from cluster.netns.virtual_hosts import PROJECT, namespaces, require_root

SMALL = ["--rows", "100000", "--securities", "10000", "--events", "100000", "--q5-seconds", "20"]
TIMELINE = [
    "hosts up: ",
    "jm1 leads, jm2 stands by, 3 agents ACTIVE",
    "fintech job FINISHED on 3 agents",
    "q5: a checkpoint is complete",
    r"leader jm1 killed \(SIGKILL\)",
    "jm2 leads",
    r"agent\d cut off",
    r"agent\d FAILED",
    r"agent\d healed",
    r"agent\d ACTIVE again",
    "q5 job FINISHED",
    "torn down",
]
CHECKS = [
    r"fintech on the cluster equals DuckDB \(11 sectors, 100,000 quotes\)",
    "jm2 took over the lead ",
    r"agent\d FAILED [\d.]+ s after the cut \(heartbeat timeout 4 s\)",
    r"agent\d registered again [\d.]+ s after the heal",
    r"q5 job FINISHED once \(\d+ checkpoints complete\)",
    r"q5 sink equals DuckDB's q5, each row once \((\d+) rows, DuckDB \1\)",
]


@pytest.mark.slow
def test_the_cluster_demo_passes_its_checks_through_the_faults_and_leaves_nothing() -> None:
    try:
        require_root()
    except PermissionError as exc:
        pytest.fail(str(exc), pytrace=False)
    demo = subprocess.Popen(
        [sys.executable, "-m", "cluster.netns.demo", *SMALL],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = demo.communicate(timeout=600)
    finally:
        demo.kill()
    assert demo.returncode == 0, output
    timeline, checks = output.split("\nchecks:\n")
    events = [re.match(r" *([\d.]+) s  (.*)", line) for line in timeline.splitlines()]
    assert all(events), timeline
    said = [e.group(2) for e in events if e]
    at = [float(e.group(1)) for e in events if e]
    order = [next((i for i, s in enumerate(said) if re.match(t, s)), -1) for t in TIMELINE]
    assert -1 not in order, (TIMELINE[order.index(-1)], timeline)
    assert order == sorted(order), timeline
    assert [at[i] for i in order] == sorted(at[i] for i in order), timeline
    victim = re.match(r"(agent\d) cut off", said[order[6]])
    assert victim and all(said[i].startswith(victim.group(1)) for i in order[6:10]), timeline
    lines = checks.strip().splitlines()
    assert len(lines) == len(CHECKS) and all(
        re.match(f"PASS {c}", line) for c, line in zip(CHECKS, lines, strict=True)
    ), checks
    assert [n for n in namespaces() if n.startswith(f"slab-{demo.pid}x")] == []
