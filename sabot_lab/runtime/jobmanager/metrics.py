"""Job metrics from task rows, and the Prometheus text exposition of a cluster.

>>> tasks = [
...     {"stage": 0, "attempt": 0, "state": "FINISHED", "rows_in": 10, "rows_out": 4, "batches_out": 1,
...      "bytes_out": 32, "busy_s": 0.5, "backpressure_s": 0.0},
...     {"stage": 1, "attempt": 0, "state": "RUNNING", "rows_in": 4, "rows_out": 2, "batches_out": 1,
...      "bytes_out": 16, "busy_s": 0.25, "backpressure_s": 0.125},
... ]
>>> m = job_metrics(tasks)
>>> m["tasks"], m["rows_in"], m["rows_out"], m["busy_s"], m["attempts"]
({'FINISHED': 1, 'RUNNING': 1}, 14, 6, 0.75, 1)
>>> text = prometheus_text({"RUNNING": 1}, [], [], now=0.0)
>>> [line for line in text.splitlines() if line.startswith("sabot_jobs{")][2:4]
['sabot_jobs{state="RUNNING"} 1', 'sabot_jobs{state="FINISHED"} 0']
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from sabot_lab.runtime.protocol import AGENT_STATES, STATES, TASK_METRICS

__all__ = ["ENDED_SERIES_SECONDS", "job_metrics", "prometheus_text", "series_since"]

ENDED_SERIES_SECONDS = 600.0
"""Seconds ``/metrics`` keeps the series of a job after it ended (less when the JobManager
keeps ended jobs for less: ``result_ttl``); so the series follow the jobs that run."""


def series_since(now: float, ttl: float | None) -> float:
    """The time after which a job that ended still has its series in ``/metrics`` at
    ``now``, when ended jobs are kept ``ttl`` seconds (None: until deleted).

    >>> series_since(1000.0, None), series_since(1000.0, 60.0)
    (400.0, 940.0)
    """
    return now - min(ENDED_SERIES_SECONDS, ENDED_SERIES_SECONDS if ttl is None else ttl)


def job_metrics(
    tasks: Iterable[Mapping[str, Any]], checkpoints: Iterable[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """A job's figures from its task rows: tasks by state, summed task metrics, attempts so
    far, and rows out per stage (of the latest attempt); from its checkpoint rows, how many
    completed and the last one's number, size and duration."""
    rows = list(tasks)
    latest = max((t["attempt"] for t in rows), default=0)
    per_stage: Counter[int] = Counter()
    for t in rows:
        if t["attempt"] == latest:
            per_stage[t["stage"]] += t["rows_out"]
    return {
        "tasks": dict(Counter(t["state"] for t in rows)),
        **{k: _total(t[k] for t in rows) for k in TASK_METRICS},
        "attempts": latest + 1,
        "stages": {str(stage): {"rows_out": n} for stage, n in sorted(per_stage.items())},
        "checkpoints": checkpoint_figures(checkpoints),
    }


def checkpoint_figures(checkpoints: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """How many of a job's checkpoints completed, and the last one's number, size (bytes) and
    duration (seconds from asked to COMPLETE).

    >>> checkpoint_figures([{"checkpoint_id": 2, "state": "COMPLETE", "created_at": 1.0,
    ...                      "completed_at": 1.25, "bytes": 4096}])
    {'completed': 1, 'last': 2, 'last_bytes': 4096, 'last_duration_s': 0.25}
    """
    done = [c for c in checkpoints if c["state"] != "PENDING"]
    if not done:
        return {"completed": 0, "last": None, "last_bytes": None, "last_duration_s": None}
    last = done[-1]
    return {
        "completed": len(done),
        "last": last["checkpoint_id"],
        "last_bytes": last["bytes"],
        "last_duration_s": round(last["completed_at"] - last["created_at"], 6),
    }


def _total(values: Iterable[Any]) -> Any:
    total = sum(values)
    return round(total, 6) if isinstance(total, float) else total


def prometheus_text(
    job_counts: Mapping[str, int],
    agents: Iterable[Mapping[str, Any]],
    task_totals: Iterable[Mapping[str, Any]],
    now: float,
    last_checkpoints: Iterable[Mapping[str, Any]] = (),
) -> str:
    """The cluster's state in the Prometheus text format (version 0.0.4): the jobs by state
    (``job_counts``), and the last checkpoint of each job (size and duration) of
    ``last_checkpoints`` (the one series per job: give those of live and recent jobs only)."""
    out: list[str] = []

    def family(name: str, kind: str, help: str, samples: Iterable[tuple[str, Any]]) -> None:
        out.append(f"# HELP {name} {help}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(f"{name}{labels} {value}" for labels, value in samples)

    agents = list(agents)
    totals = list(task_totals)
    job_states = Counter(job_counts)
    agent_states = Counter(a["state"] for a in agents)
    family(
        "sabot_jobs", "gauge", "Jobs by state.", [(_labels(state=s), job_states[s]) for s in STATES]
    )
    family(
        "sabot_agents",
        "gauge",
        "Agents by state.",
        [(_labels(state=s), agent_states[s]) for s in AGENT_STATES],
    )
    for name, key, help in (
        ("sabot_agent_slots", "slots", "Task slots of an agent."),
        ("sabot_agent_running_tasks", "running", "Tasks running on an agent."),
    ):
        family(name, "gauge", help, [(_labels(agent=a["uri"]), a[key]) for a in agents])
    family(
        "sabot_agent_heartbeat_age_seconds",
        "gauge",
        "Seconds since an agent's last heartbeat.",
        [(_labels(agent=a["uri"]), round(now - a["last_heartbeat"], 3)) for a in agents],
    )
    family(
        "sabot_tasks",
        "gauge",
        "Tasks of all jobs by state.",
        [(_labels(state=t["state"]), t["tasks"]) for t in totals],
    )
    for key in TASK_METRICS:
        family(
            f"sabot_task_{key.removesuffix('_s')}_{'seconds' if key.endswith('_s') else 'total'}",
            "counter",
            f"Sum of the tasks' {key.replace('_', ' ')}, by task state.",
            [(_labels(state=t["state"]), t[key]) for t in totals],
        )
    last = [(_labels(job=c["job_id"]), checkpoint_figures([c])) for c in last_checkpoints]
    for name, key, help in (
        ("sabot_checkpoint_last_bytes", "last_bytes", "Size of a job's last checkpoint."),
        (
            "sabot_checkpoint_last_duration_seconds",
            "last_duration_s",
            "Seconds from asking a job's last checkpoint to its completion.",
        ),
    ):
        family(name, "gauge", help, [(labels, f[key]) for labels, f in last])
    return "\n".join(out) + "\n"


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
