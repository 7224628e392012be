"""The live figures of a job's views: result rows from the final stage only, and rates
measured between a task's own reports, whatever the reading interval."""

from __future__ import annotations

from typing import Any

from sabot_lab.notebook.job_view import Throughput, job_view
from sabot_lab.notebook.live import JobSnapshot, ReportHistory
from sabot_lab.runtime.jobmanager.metrics import job_metrics


def task(stage: int, rows: int, at: float, state: str = "RUNNING", part: int = 0) -> dict[str, Any]:
    return {
        "stage": stage, "partition": part, "attempt": 0, "state": state, "rows_in": 0,
        "rows_out": rows, "batches_out": 1, "bytes_out": 8 * rows, "busy_s": 0.1,
        "backpressure_s": 0.0, "created_at": 0.0, "updated_at": at,
    }  # fmt: skip


def rows_shown(tasks: list[dict[str, Any]], final_stage: int | None) -> int:
    snapshot = JobSnapshot("j", "RUNNING", None, tasks, job_metrics(tasks), final_stage=final_stage)
    return int(job_view(snapshot)["rows"])


def test_result_rows_are_the_final_stages_never_an_earlier_stages() -> None:
    first = [task(0, 4_656, 1.0, "FINISHED")]  # the first stage's partial aggregates
    second = [*first, task(1, 97, 2.0, "FINISHED")]
    assert [rows_shown(first, 1), rows_shown(second, 1)] == [0, 97]  # rises, never drops
    assert rows_shown(second, None) == 97  # ended jobs: the last stage that ran


def test_throughput_takes_one_reading_per_report_and_none_between() -> None:
    meter = Throughput()
    for reading in range(40):  # read every 0.05 s, a report every 0.5 s, 1,000 rows/s
        report = reading // 10
        meter.add(
            [task(0, 500 * report, 0.5 * report), task(0, 500 * report, 0.5 * report, part=1)]
        )
    assert meter.rates == [2_000.0] * 3


def test_a_task_that_ended_leaves_the_rate_and_a_retry_starts_afresh() -> None:
    history = ReportHistory()
    history.add([task(0, 0, 0.0), task(0, 0, 0.0, part=1)])
    later = [task(0, 1_000, 1.0), task(0, 3_000, 1.0, "FINISHED", part=1)]
    history.add(later)
    assert history.rate(later, lambda t: t["rows_out"]) == 1_000.0
    retry = {**task(0, 200, 2.0), "attempt": 1}
    history.add([retry])
    assert history.rate([retry], lambda t: t["rows_out"]) is None  # one report of it so far
