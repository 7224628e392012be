"""Placement of a job's tasks on agents: which agent runs each task, whether a job runs all its
stages at once, and whether the agents have the slots for it. Pure functions over agent rows.

May import ``physical``, ``runtime.protocol``, ``observability``, ``errors``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sabot_lab.errors import ClusterError
from sabot_lab.observability.resources import load_band
from sabot_lab.physical import PhysicalPlan, Stage
from sabot_lab.runtime.protocol import ASSIGNMENTS

__all__ = [
    "assign",
    "held_inputs",
    "host_bands",
    "missing_slots",
    "pipelined",
    "stage_steps",
    "waiting_for_slots",
    "with_free_slots",
    "with_unended",
]


def assign(strategy: str, agents: list[dict[str, Any]], tasks: int, offset: int = 0) -> list[str]:
    """Agents (URIs) for ``tasks`` tasks.

    ``round_robin`` deals tasks out in turn. ``resource_aware`` gives each task to an agent
    with a free slot (counting running tasks and those placed already), the least loaded
    first by the CPU and memory its host reported (see
    :func:`~sabot_lab.observability.resources.load_band`, the same for agents of one host: see
    :func:`host_bands`), then the one with the most free slots, then the most memory.

    >>> a = [{"uri": "a", "slots": 4, "running": 0, "memory_bytes": 8}, {"uri": "b", "slots": 1, "running": 0, "memory_bytes": 8}]
    >>> assign("round_robin", a, 4), assign("resource_aware", a, 4)
    (['a', 'b', 'a', 'b'], ['a', 'a', 'a', 'b'])
    >>> busy = [{**a[0], "cpu_percent": 95.0}, {**a[1], "cpu_percent": 10.0}]
    >>> assign("resource_aware", busy, 3)
    ['b', 'a', 'a']
    """
    if not agents:
        raise ClusterError("no active agents")
    if strategy == "round_robin":
        return [agents[(offset + i) % len(agents)]["uri"] for i in range(tasks)]
    if strategy != "resource_aware":
        raise ClusterError(f"unknown assignment {strategy!r}; use one of {', '.join(ASSIGNMENTS)}")
    load = {a["uri"]: a["running"] for a in agents}
    band = host_bands(agents)
    out = []
    for _ in range(tasks):
        best = max(agents, key=lambda a: (
            a["slots"] > load[a["uri"]], -band[_host(a)], a["slots"] - load[a["uri"]],
            a["memory_bytes"] or 0, a["uri"],
        ))  # fmt: skip
        load[best["uri"]] += 1
        out.append(best["uri"])
    return out


def _host(agent: Mapping[str, Any]) -> str:
    return str(agent.get("host") or agent["uri"])


def host_bands(agents: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """The :func:`~sabot_lab.observability.resources.load_band` of each host, the highest its
    agents reported: agents on one host share its CPU and memory, so a difference between
    their samples (taken at other moments) never sends every task to one of them.

    >>> a = [{"uri": "grpc://h:1", "host": "h", "cpu_percent": 95.0},
    ...      {"uri": "grpc://h:2", "host": "h", "cpu_percent": 60.0},
    ...      {"uri": "grpc://g:1", "host": "g", "cpu_percent": 10.0}]
    >>> host_bands(a)
    {'h': 2, 'g': 0}
    """
    bands: dict[str, int] = {}
    for agent in agents:
        bands[_host(agent)] = max(bands.get(_host(agent), 0), load_band(agent))
    return bands


def with_unended(
    agents: Sequence[Mapping[str, Any]], unended: Mapping[str, int]
) -> list[dict[str, Any]]:
    """The agents with ``running`` counted from what the JobManager knows runs on each (the
    tasks placed so far, other jobs', an old attempt's that did not stop), not from the last
    heartbeat: a task beyond an agent's slots would wait for one, and hold up its job. The
    tasks of ended jobs an agent reports still stopping (``draining``) hold their slots too.

    >>> with_unended([{"uri": "a", "running": 0}, {"uri": "b", "draining": 1}], {"a": 2})
    [{'uri': 'a', 'running': 2}, {'uri': 'b', 'draining': 1, 'running': 1}]
    """
    return [{**a, "running": unended.get(a["uri"], 0) + a.get("draining", 0)} for a in agents]


def with_free_slots(agents: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The agents (with ``running`` from :func:`with_unended`) that have a free slot: a task
    placed on another would wait behind tasks that may never end (an unbounded job's).

    >>> [a["uri"] for a in with_free_slots([{"uri": "a", "slots": 2, "running": 2},
    ...                                     {"uri": "b", "slots": 2, "running": 1}])]
    ['b']
    """
    return [dict(a) for a in agents if a["slots"] > a["running"]]


def waiting_for_slots(
    needed: int, agents: Sequence[Mapping[str, Any]], holders: Mapping[str, int]
) -> str | None:
    """Why a stage that needs ``needed`` free slots must wait, on ``agents`` (with
    ``running`` from :func:`with_unended`) whose slots the tasks of ``holders`` (job id: tasks
    not ended) hold; None when it need not.

    >>> agents = [{"uri": "a", "slots": 2, "running": 2}, {"uri": "b", "slots": 2, "running": 1}]
    >>> waiting_for_slots(1, agents, {"j1": 3}) is None
    True
    >>> print(waiting_for_slots(2, agents, {"j1": 3}))
    waiting for 2 free task slots: 1 of the agents' 4 is free, the others run job j1 (3 tasks)
    >>> print(waiting_for_slots(2, [{**agents[1], "draining": 1}], {}))
    waiting for 2 free task slots: 1 of the agents' 2 is free, the others run 1 task of ended jobs, still stopping
    """
    free = sum(max(a["slots"] - a["running"], 0) for a in agents)
    if free >= needed:
        return None
    slots = sum(a["slots"] for a in agents)
    jobs = ", ".join(f"{job} ({n} task{'s' * (n != 1)})" for job, n in sorted(holders.items()))
    held = [f"job{'s' * (len(holders) != 1)} {jobs}"] if holders else []
    stopping = sum(a.get("draining", 0) for a in agents)
    if stopping:
        held.append(f"{stopping} task{'s' * (stopping != 1)} of ended jobs, still stopping")
    return (
        f"waiting for {needed} free task slot{'s' * (needed != 1)}: {free} of the agents' "
        f"{slots} {'is' if free == 1 else 'are'} free, the others run {' and '.join(held)}"
    )


def missing_slots(needed: int, slots: int) -> str | None:
    """Why agents with ``slots`` slots in all cannot run a job's ``needed`` tasks at once, or
    None when they can.

    >>> missing_slots(2, 2) is None
    True
    >>> missing_slots(3, 2)[:37]
    'this job runs all its 3 tasks at once'
    """
    if needed <= slots:
        return None
    return (
        f"this job runs all its {needed} tasks at once, and the agents have {slots} slots: "
        "add agents or slots, or submit it with fewer partitions"
    )


def held_inputs(
    plan: PhysicalPlan, stage: Stage, placed: Mapping[tuple[int, int], str], streaming: bool
) -> dict[int, tuple[str, ...]]:
    """The agents holding the rows ``stage`` reads, by producing stage, from where an
    attempt's tasks were ``placed`` (by ``(stage, partition)``): each agent once, sorted; or,
    ``streaming``, one per producing task in partition order (each is read on its own).

    >>> import sabot_lab as sl
    >>> from sabot_lab.physical import plan_stages
    >>> counts = sl.from_pydict({"k": [1, 2]}).group_by("k").agg(sl.col("k").count().alias("n"))
    >>> plan = plan_stages(counts.graph, 2)
    >>> placed = {(0, 0): "b", (0, 1): "a"}
    >>> held_inputs(plan, plan.stages[1], placed, False), held_inputs(plan, plan.stages[1], placed, True)
    ({0: ('a', 'b')}, {0: ('b', 'a')})
    """
    producers = {plan.exchanges[x].producer for x in stage.reads}
    if streaming:
        return {s: tuple(placed[s, p] for p in range(plan.stages[s].partitions)) for s in producers}
    return {
        s: tuple(sorted({uri for (ts, _), uri in placed.items() if ts == s})) for s in producers
    }


def pipelined(plan: PhysicalPlan, checkpoint_interval: float | None) -> bool:
    """Whether a job runs all its stages at once, exchanges streaming: an unbounded one, or
    one that takes checkpoints (they need every task running to pass barriers)."""
    return not plan.bounded or checkpoint_interval is not None


def stage_steps(plan: PhysicalPlan, checkpoint_interval: float | None) -> int:
    """Stage steps of a job's workflow: one per stage, or one for all of a pipelined job."""
    return 1 if pipelined(plan, checkpoint_interval) else len(plan.stages)
