"""Live EXPLAIN ANALYZE numbers: a running job's task figures mapped onto its physical plan view.

Agents report per task (rows in and out, busy and backpressure seconds), so the numbers are
per stage: summed over the stage's tasks (the latest attempt of each partition), shown on the
stage, on the operator whose rows leave the stage, and on the exchanges the stage feeds. A
stage's throughput is its rows out per second between two snapshots while it runs, and over
its whole run once all its tasks ended; busy and backpressure are the shares of the stage's
task time spent working and waiting for consumers.

>>> from sabot_lab.notebook.live import JobSnapshot
>>> stage = {"stage": 0, "output_nodes": ["scan"], "writes": []}
>>> view = {"groups": [{"kind": "stage", "details": stage}], "edges": []}
>>> task = {"stage": 0, "partition": 0, "attempt": 0, "state": "FINISHED", "rows_in": 0,
...         "rows_out": 500, "batches_out": 1, "bytes_out": 4000, "busy_s": 1.5,
...         "backpressure_s": 0.5, "created_at": 10.0, "updated_at": 12.0}
>>> live = live_numbers(JobSnapshot("j", "FINISHED", None, [task], {}), view)
>>> live["stages"]["0"]["rows_out"], live["stages"]["0"]["rows_per_s"], live["stages"]["0"]["busy"]
(500, 250.0, 0.75)
>>> live["nodes"]["scan"]["rows_out"], live["rows_out"]
(500, 500)
>>> live["stages"]["0"]["text"]
'500 out · 250 rows/s · busy 75% · backpressure 25%'

"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sabot_lab.control.metrics import job_metrics
from sabot_lab.control.states import ENDED
from sabot_lab.notebook.live import JobSnapshot
from sabot_lab.optimizer.trace import format_rows

__all__ = ["live_numbers", "stage_tasks"]

_SUMMED = ("rows_in", "rows_out", "bytes_out", "busy_s", "backpressure_s")


def stage_tasks(tasks: Iterable[Mapping[str, Any]]) -> dict[int, list[Mapping[str, Any]]]:
    """The latest attempt of every task, by stage.

    >>> rows = [{"stage": 0, "partition": 0, "attempt": a} for a in (0, 1)]
    >>> [t["attempt"] for t in stage_tasks(rows)[0]]
    [1]
    """
    latest: dict[tuple[int, int], Mapping[str, Any]] = {}
    for t in tasks:
        key = (t["stage"], t["partition"])
        if key not in latest or t["attempt"] > latest[key]["attempt"]:
            latest[key] = t
    out: dict[int, list[Mapping[str, Any]]] = {}
    for (stage, _), t in sorted(latest.items(), key=lambda kv: kv[0]):
        out.setdefault(stage, []).append(t)
    return out


def live_numbers(
    snapshot: JobSnapshot, physical: Mapping[str, Any], previous: JobSnapshot | None = None
) -> dict[str, Any]:
    """The live numbers of ``snapshot`` for the ``physical`` plan view: per stage, per edge
    (exchanges, by exchange id) and per node (each stage's output operators), plus the job's
    state and its result rows so far (the rows out of the stage that feeds no exchange);
    each with a ``text`` line that every rendering shows as is. ``previous`` (the snapshot
    before) gives the rates of running stages."""
    before = stage_tasks(previous.tasks) if previous is not None else {}
    stages: dict[str, dict[str, Any]] = {}
    for stage, tasks in stage_tasks(snapshot.tasks).items():
        stages[str(stage)] = _stage_numbers(tasks, before.get(stage), snapshot, previous)
    nodes: dict[str, dict[str, Any]] = {}
    edges: dict[str, dict[str, Any]] = {}
    producer_of = {}
    for group in physical["groups"]:
        if group["kind"] != "stage":
            continue
        numbers = stages.get(str(group["details"]["stage"]))
        if numbers is None:
            continue
        for node_id in group["details"]["output_nodes"]:
            rows, rate = numbers["rows_out"], numbers["rows_per_s"]
            text = f"{format_rows(rows)} rows out{_rate(rate)}"
            nodes[node_id] = {"rows_out": rows, "rows_per_s": rate, "text": text}
        for x_id in group["details"].get("writes", ()):
            producer_of[x_id] = numbers
    for edge in physical["edges"]:
        numbers = producer_of.get(edge["id"]) if edge["exchange"] else None
        if numbers is not None:
            rows, rate = numbers["rows_out"], numbers["rows_per_s"]
            text = f"{format_rows(rows)} rows{_rate(rate)}"
            edges[edge["id"]] = {"rows": rows, "rows_per_s": rate, "text": text}
    finals = [g["details"]["stage"] for g in physical["groups"] if _final_stage(g)]
    last = stages.get(str(finals[0])) if finals else None
    result = f" · {format_rows(last['rows_out'])} result rows" if last is not None else ""
    return {
        "job_id": snapshot.job_id,
        "state": snapshot.state,
        "error": snapshot.error,
        "ended": snapshot.ended,
        "rows_out": last["rows_out"] if last is not None else None,
        "stages": stages,
        "edges": edges,
        "nodes": nodes,
        "text": f"job {snapshot.job_id} {snapshot.state}{result}",
    }


def _final_stage(group: Mapping[str, Any]) -> bool:
    """Whether ``group`` is the stage producing the job's result (it feeds no exchange)."""
    return group["kind"] == "stage" and not group["details"].get("writes")


def _stage_numbers(
    tasks: list[Mapping[str, Any]],
    tasks_before: list[Mapping[str, Any]] | None,
    snapshot: JobSnapshot,
    previous: JobSnapshot | None,
) -> dict[str, Any]:
    totals = job_metrics(tasks)
    sums = {k: totals[k] for k in _SUMMED}
    started = min(t["created_at"] for t in tasks)
    elapsed = max(t["updated_at"] for t in tasks) - started
    done = all(t["state"] in ENDED for t in tasks)
    rate: float | None = None
    if done and elapsed > 0:
        rate = sums["rows_out"] / elapsed
    elif tasks_before is not None and previous is not None and snapshot.at > previous.at:
        grown = sums["rows_out"] - sum(t["rows_out"] for t in tasks_before)
        rate = max(0.0, grown / (snapshot.at - previous.at))
    task_time = elapsed * len(tasks)
    busy, backpressure = (
        (_share(sums["busy_s"], task_time), _share(sums["backpressure_s"], task_time))
        if task_time > 0
        else (None, None)
    )
    rows_in = f"{format_rows(sums['rows_in'])} in · " if sums["rows_in"] else ""
    text = (
        f"{rows_in}{format_rows(sums['rows_out'])} out{_rate(rate)}"
        f" · busy {_percent(busy)} · backpressure {_percent(backpressure)}"
    )
    return {
        **sums,
        "tasks": totals["tasks"],
        "done": done,
        "rows_per_s": None if rate is None else round(rate, 1),
        "busy": busy,
        "backpressure": backpressure,
        "text": text,
    }


def _share(seconds: float, task_time: float) -> float:
    return round(min(1.0, seconds / task_time), 3)


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.0%}"


def _rate(rows_per_s: float | None) -> str:
    return "" if rows_per_s is None else f" · {format_rows(rows_per_s)} rows/s"
