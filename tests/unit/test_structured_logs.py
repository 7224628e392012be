"""The one logging setup of sabot-lab's processes (JSON lines, rotated files, console lines in
notebooks, records bound to a task's ids), and the records an agent keeps of its tasks."""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from sabot_lab.config import Config
from sabot_lab.observability.logs import configure_logging, reset_logging, set_process_fields
from sabot_lab.observability.task_logs import TaskLogs

TASK = {"job_id": "j1", "task_id": "j1/2.1/0", "attempt": 0, "stage": 2, "agent_id": "grpc://a:1"}


@pytest.fixture(autouse=True)
def reset() -> Iterator[None]:
    yield
    reset_logging()


def lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_every_record_is_one_json_line_with_the_ids_bound_where_it_was_logged() -> None:
    out = io.StringIO()
    configure_logging("agent", stream=out)
    set_process_fields(agent_id="grpc://a:1")
    library = logging.getLogger("some.library")
    library.info("outside any task")
    with structlog.contextvars.bound_contextvars(**TASK):
        try:
            {}["price"]
        except KeyError:
            library.exception("lookup failed for %s", "price")
        structlog.get_logger("user.udf").warning("odd row", row=3)
    outside, failed, odd = lines(out.getvalue())
    assert outside["event"] == "outside any task" and "task_id" not in outside
    assert outside["agent_id"] == "grpc://a:1" and outside["process"] == "agent"
    assert outside["level"] == "info" and outside["logger"] == "some.library"
    assert str(outside["time"]).endswith("Z")
    for record in (failed, odd):
        assert {k: record[k] for k in TASK} == TASK
    assert failed["event"] == "lookup failed for price" and failed["level"] == "error"
    assert str(failed["error"]).startswith("Traceback") and "KeyError: 'price'" in failed["error"]
    assert odd["event"] == "odd row" and odd["row"] == 3 and odd["logger"] == "user.udf"


def test_the_level_comes_from_config_and_warnings_are_records() -> None:
    out = io.StringIO()
    configure_logging("jobmanager", Config(log_level="WARNING"), stream=out)
    logging.getLogger("sabot_lab.jobmanager").info("not kept")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("deprecated knob", UserWarning, stacklevel=1)
    (record,) = lines(out.getvalue())
    assert "deprecated knob" in str(record["event"]) and record["level"] == "warning"
    assert record["logger"] == "py.warnings"


def test_a_log_file_is_rotated_and_every_line_of_every_file_is_json(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "agent-0.log"
    config = Config(log_file=str(path), log_file_bytes=2_000, log_file_backups=2)
    configure_logging("agent", config)
    log = logging.getLogger("sabot_lab.agent")
    for n in range(200):
        log.info("record %d", n)
    files = sorted(path.parent.iterdir())
    assert [f.name for f in files] == ["agent-0.log", "agent-0.log.1", "agent-0.log.2"]
    assert all(f.stat().st_size < 2_000 + 300 for f in files)  # (rotated after a record)
    kept = [record["event"] for f in reversed(files) for record in lines(f.read_text())]
    assert kept == [f"record {n}" for n in range(200 - len(kept), 200)]


def test_a_notebook_gets_console_lines_of_sabot_labs_loggers_only() -> None:
    out = io.StringIO()
    configure_logging("notebook", stream=out)
    logging.getLogger("other.library").warning("not sabot-lab's")
    with structlog.contextvars.bound_contextvars(job_id="j1"):
        logging.getLogger("sabot_lab.client").warning("slow JobManager")
    (line,) = out.getvalue().splitlines()
    assert "slow JobManager" in line and "job_id=j1" in line and "warning" in line
    assert not line.startswith("{")
    assert logging.getLogger("sabot_lab").propagate  # the user's own handlers see them too


def test_configuring_again_replaces_the_setup() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("agent", stream=first)
    configure_logging("agent", stream=second)
    logging.getLogger("sabot_lab.agent").warning("once")
    assert first.getvalue() == "" and len(lines(second.getvalue())) == 1


def test_an_agent_keeps_the_last_records_of_its_own_tasks_until_taken() -> None:
    logs = TaskLogs("grpc://a:1", capacity=3, level="INFO")
    log = logging.getLogger("test.task_logs")
    log.setLevel(logging.DEBUG)
    log.addHandler(logs)
    try:
        log.info("no task")
        with structlog.contextvars.bound_contextvars(**{**TASK, "agent_id": "grpc://b:2"}):
            log.info("another agent's task (same process)")
        with structlog.contextvars.bound_contextvars(**TASK):
            log.debug("below the level")
            for n in range(5):
                log.warning("record %d", n)
            try:
                raise ValueError("boom")
            except ValueError:
                log.exception("task failed")
        with structlog.contextvars.bound_contextvars(**{**TASK, "task_id": "j1/2.0/0"}):
            log.info("the other task")
    finally:
        log.removeHandler(logs)
    taken = logs.take([TASK["task_id"], "j1/9.9/0"])
    assert list(taken) == [TASK["task_id"]]
    records = taken[TASK["task_id"]]
    assert [r["event"] for r in records] == ["record 3", "record 4", "task failed"]
    assert set(records[0]) == {"time", "level", "logger", "event", "error"}
    assert records[2]["level"] == "error" and "ValueError: boom" in str(records[2]["error"])
    assert logs.take([TASK["task_id"]]) == {}  # taken once
    logs.drop(["j1/2.0/0"])
    assert logs.take(["j1/2.0/0"]) == {}
