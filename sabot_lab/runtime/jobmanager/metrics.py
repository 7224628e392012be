"""Job metrics from task rows, and the Prometheus text exposition of a cluster: jobs, agents
(with the resources they report), tasks, operators, checkpoints, Kafka consumer lag and the
JobManager's workflow steps (``docs/grafana/sabot-lab.json`` is a dashboard of them).

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

import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from sabot_lab.observability.resources import overloaded
from sabot_lab.runtime.protocol import AGENT_RESOURCES, AGENT_STATES, STATES, TASK_METRICS

__all__ = [
    "ENDED_SERIES_SECONDS",
    "StepLatency",
    "job_metrics",
    "prometheus_text",
    "series_since",
]

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


class StepLatency:
    """The seconds the steps of the JobManager's job workflows took, in all and how many, by
    step name; added to by the workflows' threads.

    >>> steps = StepLatency()
    >>> steps.observe("accept", 0.25); steps.observe("accept", 0.5)
    >>> steps.snapshot()
    {'accept': (0.75, 2)}
    """

    def __init__(self) -> None:
        self._steps: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def observe(self, step: str, seconds: float) -> None:
        """Count one ``step`` that took ``seconds``."""
        with self._lock:
            total, count = self._steps.get(step, (0.0, 0))
            self._steps[step] = (total + seconds, count + 1)

    def snapshot(self) -> dict[str, tuple[float, int]]:
        """``(seconds, count)`` by step."""
        with self._lock:
            return {k: (round(t, 6), n) for k, (t, n) in self._steps.items()}


_AGENT_FAMILIES = {  # resource -> (family, kind, help)
    "cpu_percent": ("sabot_agent_cpu_percent", "gauge", "Share of an agent's host CPU in use."),
    "memory_percent": ("sabot_agent_memory_percent", "gauge", "Share of an agent's host memory in use."),
    "rss_bytes": ("sabot_agent_rss_bytes", "gauge", "Resident memory of an agent's process."),
    "read_bytes": ("sabot_agent_read_bytes_total", "counter", "Bytes an agent's process read from storage."),
    "write_bytes": ("sabot_agent_write_bytes_total", "counter", "Bytes an agent's process wrote to storage."),
    "shuffle_bytes": ("sabot_agent_shuffle_bytes", "gauge", "Shuffle rows an agent holds in memory (bytes)."),
    "spilled_bytes": ("sabot_agent_spilled_bytes", "gauge", "Shuffle rows an agent spilled to disk (bytes)."),
    "shuffle_sent_bytes": ("sabot_agent_shuffle_sent_bytes_total", "counter", "Shuffle bytes an agent sent to consumers."),
    "credit_wait_s": ("sabot_agent_credit_wait_seconds_total", "counter", "Seconds an agent's shuffle streams waited for their consumers' credits."),
}  # fmt: skip
assert set(_AGENT_FAMILIES) == set(AGENT_RESOURCES)


def prometheus_text(
    job_counts: Mapping[str, int],
    agents: Iterable[Mapping[str, Any]],
    task_totals: Iterable[Mapping[str, Any]],
    now: float,
    last_checkpoints: Iterable[Mapping[str, Any]] = (),
    recent_tasks: Iterable[Mapping[str, Any]] = (),
    steps: Mapping[str, tuple[float, int]] | None = None,
) -> str:
    """The cluster's state in the Prometheus text format (version 0.0.4): the jobs by state
    (``job_counts``), the agents with the resources and Kafka consumer lags they reported,
    the last checkpoint of each job (size and duration) of ``last_checkpoints`` and the
    operators and tasks of ``recent_tasks`` (series per job: give those of live and recent
    jobs only), and the workflow ``steps`` (see :class:`StepLatency`).

    >>> text = prometheus_text({}, [], [], now=10.0, recent_tasks=[
    ...     {"job_id": "j1", "task_id": "j1/0.0/0", "attempt": 0, "state": "RUNNING",
    ...      "operators": {"scan": 8}, "operator_seconds": {"scan": 0.5},
    ...      "state_bytes": 64, "watermark": 9_000_000}])
    >>> [line for line in text.splitlines() if "j1" in line]  # doctest: +NORMALIZE_WHITESPACE
    ['sabot_operator_rows_total{job="j1",operator="scan"} 8',
     'sabot_operator_seconds_total{job="j1",operator="scan"} 0.5',
     'sabot_task_state_bytes{job="j1",task="j1/0.0/0"} 64',
     'sabot_task_watermark_lag_seconds{job="j1",task="j1/0.0/0"} 1.0']
    """
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
    for key, (name, kind, help) in _AGENT_FAMILIES.items():
        family(name, kind, help, [
            (_labels(agent=a["uri"]), a[key]) for a in agents if a.get(key) is not None
        ])  # fmt: skip
    family(
        "sabot_agent_overloaded",
        "gauge",
        "Whether an agent's host CPU or memory is overloaded (1) or not (0).",
        [(_labels(agent=a["uri"]), int(overloaded(a))) for a in agents if "cpu_percent" in a],
    )
    family(
        "sabot_kafka_consumer_lag",
        "gauge",
        "Records a Kafka partition's end is ahead of what its consumer on an agent read.",
        [
            (_labels(agent=a["uri"], topic=c["topic"], group=c["group"] or "",
                     partition=c["partition"]), c["lag"])
            for a in agents for c in a.get("consumer_lag", ())
        ],
    )  # fmt: skip
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
    _task_families(family, list(recent_tasks), now)
    steps = steps or {}
    out.append("# HELP sabot_workflow_step_seconds Seconds the steps of job workflows took.")
    out.append("# TYPE sabot_workflow_step_seconds summary")
    for step, (total, count) in sorted(steps.items()):
        out.append(f"sabot_workflow_step_seconds_sum{_labels(step=step)} {total}")
        out.append(f"sabot_workflow_step_seconds_count{_labels(step=step)} {count}")
    return "\n".join(out) + "\n"


def _task_families(family: Any, tasks: list[Mapping[str, Any]], now: float) -> None:
    """The operators' rows and seconds of each job's latest attempt, its tasks' state sizes,
    and the watermark lag of those running."""
    latest: dict[str, int] = {}
    for t in tasks:
        latest[t["job_id"]] = max(latest.get(t["job_id"], 0), t["attempt"])
    current = [t for t in tasks if t["attempt"] == latest[t["job_id"]]]
    for name, key, help in (
        ("sabot_operator_rows_total", "operators", "Rows out of an operator, of all its tasks."),
        (
            "sabot_operator_seconds_total",
            "operator_seconds",
            "Seconds an operator's tasks spent making its rows (its last fused step or its source).",
        ),
    ):
        sums: dict[tuple[str, str], float] = {}
        for t in current:
            for operator, value in (t.get(key) or {}).items():
                sums[t["job_id"], operator] = sums.get((t["job_id"], operator), 0) + value
        samples = [(_labels(job=j, operator=o), _rounded(v)) for (j, o), v in sums.items()]
        family(name, "counter", help, samples)
    family(
        "sabot_task_state_bytes",
        "gauge",
        "Size of a task's part of its last checkpoint (its state).",
        [
            (_labels(job=t["job_id"], task=t["task_id"]), t["state_bytes"])
            for t in current if t.get("state_bytes") is not None
        ],
    )  # fmt: skip
    family(
        "sabot_task_watermark_lag_seconds",
        "gauge",
        "Seconds a running task's last watermark is behind the JobManager's clock.",
        [
            (_labels(job=t["job_id"], task=t["task_id"]), round(now - t["watermark"] / 1e6, 3))
            for t in current if t.get("watermark") is not None and t["state"] == "RUNNING"
        ],
    )  # fmt: skip


def _rounded(value: float) -> float:
    return round(value, 6) if isinstance(value, float) else value


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
