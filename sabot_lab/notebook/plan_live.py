"""Live EXPLAIN ANALYZE numbers: a running job's task figures mapped onto its physical plan view.

Agents report per task its rows in and out, busy and backpressure seconds, and the rows out of
each of its operators. Summed over a stage's tasks (the latest attempt of each partition), they
give each stage its numbers, each operator its rows out and in (the rows out of the operators
feeding it; a fused chain is one pass, so its members between the first and the last have no
counts of their own) and each edge the rows its source sent. Throughput is rows out per second
between a task's last two reports while a stage runs (:class:`~sabot_lab.notebook.live.ReportHistory`),
and over its whole run once all its tasks ended;
busy and backpressure are the shares of the stage's task time spent working and waiting for
consumers, shown on the stage and on each of its operators.

>>> from sabot_lab.notebook.live import JobSnapshot
>>> stage = {"stage": 0, "output_nodes": ["keep"], "writes": []}
>>> view = {"groups": [{"kind": "stage", "id": "stage_0", "details": stage}],
...         "nodes": [{"id": i, "details": {"stage": 0, "fused_into": None}} for i in ("scan", "keep")],
...         "edges": [{"id": "scan->keep", "source": "scan", "target": "keep", "exchange": False}]}
>>> task = {"stage": 0, "partition": 0, "attempt": 0, "state": "FINISHED", "rows_in": 0,
...         "rows_out": 500, "batches_out": 1, "bytes_out": 4000, "busy_s": 1.5,
...         "backpressure_s": 0.5, "created_at": 10.0, "updated_at": 12.0,
...         "operators": {"scan": 800, "keep": 500}}
>>> live = live_numbers(JobSnapshot("j", "FINISHED", None, [task], {}), view)
>>> live["stages"]["0"]["rows_out"], live["stages"]["0"]["rows_per_s"], live["stages"]["0"]["busy"]
(500, 250.0, 0.75)
>>> live["nodes"]["keep"]["text"], live["edges"]["scan->keep"]["text"], live["rows_out"]
('800 in · 500 out · 250 rows/s', '800 rows · 400 rows/s', 500)
>>> live["stages"]["0"]["text"]
'500 out · 250 rows/s · busy 75% · backpressure 25%'

"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sabot_lab.notebook.live import JobSnapshot, ReportHistory
from sabot_lab.optimizer.trace import format_rows
from sabot_lab.runtime.jobmanager.metrics import job_metrics
from sabot_lab.runtime.protocol import ENDED

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
    snapshot: JobSnapshot, physical: Mapping[str, Any], history: ReportHistory | None = None
) -> dict[str, Any]:
    """The live numbers of ``snapshot`` for the ``physical`` plan view: per stage, per node
    (operator) and per edge (by edge id, exchanges included), plus the job's state and its
    result rows so far (the rows out of the stage that feeds no exchange); each with a
    ``text`` line that every rendering shows as is. ``history`` (the tasks' reports so far,
    this snapshot's included) gives the rates of running stages."""
    stages: dict[str, dict[str, Any]] = {}
    nodes: dict[str, dict[str, Any]] = {}
    last_member = {
        g["id"]: g["members"][-1] for g in physical.get("groups", ()) if g["kind"] == "fused"
    }
    for stage, tasks in stage_tasks(snapshot.tasks).items():
        numbers, clock = _stage_numbers(tasks, history)
        stages[str(stage)] = numbers
        for node_id, (rows, rate) in _operator_rows(tasks, clock).items():
            node_id = last_member.get(node_id, node_id)  # a fused chain's rows leave its last
            nodes[node_id] = {"rows_out": rows, "rows_per_s": rate}
    edges: dict[str, dict[str, Any]] = {}
    rows_in: dict[str, int] = {}
    for edge in physical["edges"]:
        sent = nodes.get(edge["source"])
        if sent is None:
            continue
        rows, rate = sent["rows_out"], sent["rows_per_s"]
        edges[edge["id"]] = {
            "rows": rows,
            "rows_per_s": rate,
            "text": f"{format_rows(rows)} rows{_rate(rate)}",
        }
        rows_in[edge["target"]] = rows_in.get(edge["target"], 0) + rows
    stage_of = {n["id"]: n["details"].get("stage") for n in physical.get("nodes", ())}
    for node_id in sorted(rows_in.keys() - nodes.keys()):  # inside a fused chain: its rows go on
        nodes[node_id] = {"rows_out": None, "rows_per_s": None}
    for node_id, numbers in nodes.items():
        got = rows_in.get(node_id)
        numbers["rows_in"] = got
        own = f"{format_rows(got)} in" if got is not None else ""
        if numbers["rows_out"] is None:
            numbers["text"] = f"{own} · one pass with the next"
        else:
            out = f"{format_rows(numbers['rows_out'])} out{_rate(numbers['rows_per_s'])}"
            numbers["text"] = f"{own} · {out}" if own else out
        task_numbers = stages.get(str(stage_of.get(node_id)))
        if task_numbers is not None:  # backpressure is a task's, busy too: its stage's
            numbers.update({k: task_numbers[k] for k in ("busy", "backpressure", "tasks")})
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


def _operator_rows(
    tasks: list[Mapping[str, Any]], clock: _Clock
) -> dict[str, tuple[int, float | None]]:
    """Rows out of each operator of one stage's tasks, and their rate."""
    return {
        node_id: (rows, clock.rate(tasks, _rows_of(node_id)))
        for node_id, rows in _summed_operators(tasks).items()
    }


def _rows_of(node_id: str) -> Callable[[Mapping[str, Any]], int]:
    """A task's rows out of operator ``node_id``, as it last reported them."""
    return lambda task: (task.get("operators") or {}).get(node_id, 0)


def _summed_operators(tasks: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    summed: dict[str, int] = {}
    for t in tasks:
        for node_id, rows in (t.get("operators") or {}).items():
            summed[node_id] = summed.get(node_id, 0) + rows
    return summed


def _final_stage(group: Mapping[str, Any]) -> bool:
    """Whether ``group`` is the stage producing the job's result (it feeds no exchange)."""
    return group["kind"] == "stage" and not group["details"].get("writes")


@dataclass(frozen=True)
class _Clock:
    """How a stage's rates are measured: over its whole run once all its tasks ended, else
    between each running task's last two reports (None: no reports kept)."""

    done: bool
    elapsed: float  # from the stage's first task's start to its last report, in seconds
    history: ReportHistory | None

    def rate(
        self, tasks: list[Mapping[str, Any]], count: Callable[[Mapping[str, Any]], int]
    ) -> float | None:
        """Rows per second of the stage's ``count`` (summed over its tasks)."""
        if self.done:
            return round(sum(map(count, tasks)) / self.elapsed, 1) if self.elapsed > 0 else None
        return None if self.history is None else self.history.rate(tasks, count)


def _stage_numbers(
    tasks: list[Mapping[str, Any]], history: ReportHistory | None
) -> tuple[dict[str, Any], _Clock]:
    totals = job_metrics(tasks)
    sums = {k: totals[k] for k in _SUMMED}
    elapsed = max(t["updated_at"] for t in tasks) - min(t["created_at"] for t in tasks)
    clock = _Clock(all(t["state"] in ENDED for t in tasks), elapsed, history)
    rate = clock.rate(tasks, lambda t: t["rows_out"])
    task_time = elapsed * len(tasks)
    busy, backpressure = (
        (_share(sums["busy_s"], task_time), _share(sums["backpressure_s"], task_time))
        if task_time > 0
        else (None, None)
    )
    rows_in = f"{format_rows(sums['rows_in'])} in · " if sums["rows_in"] else ""
    lines = [
        f"{rows_in}{format_rows(sums['rows_out'])} out{_rate(rate)}",
        f"busy {_percent(busy)} · backpressure {_percent(backpressure)}",
    ]
    numbers = {
        **sums,
        "tasks": totals["tasks"],
        "done": clock.done,
        "rows_per_s": rate,
        "busy": busy,
        "backpressure": backpressure,
        "text": " · ".join(lines),
        "lines": lines,  # the text as drawn in the stage's narrow header
    }
    return numbers, clock


def _share(seconds: float, task_time: float) -> float:
    return round(min(1.0, seconds / task_time), 3)


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.0%}"


def _rate(rows_per_s: float | None) -> str:
    return "" if rows_per_s is None else f" · {format_rows(rows_per_s)} rows/s"
