"""sabot-lab in a real IPython kernel, driven as JupyterLab drives it (``jupyter_client``): a
LocalCluster shows what is up while it starts and outlives an interrupted kernel; an error
shows the user's frames and its one-line message, not sabot-lab's frames; a failed cluster job
names the user's cell and line; a job's widget keeps moving while a cell waits in
``job.result()``.

Results and errors are read from the kernel's replies (``user_expressions``, the reply's
traceback), which come in order; printed text may reach the IOPub channel after the kernel
says it is idle, so no test waits for it."""

from __future__ import annotations

import contextlib
import queue
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

DEADLINE = 120.0


@pytest.fixture
def kernel() -> Iterator[Any]:
    manager = KernelManager(kernel_name="python3")  # ipykernel, with this Python
    manager.start_kernel()
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=DEADLINE)
    try:
        yield manager, client
    finally:
        with contextlib.suppress(queue.Empty):  # (a kernel still busy is killed: no wait)
            _reply(client, client.execute("if 'cluster' in globals(): cluster.close()"), 60)
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _reply(client: Any, msg_id: str, timeout: float = DEADLINE) -> dict[str, Any]:
    """The content of the kernel's reply to request ``msg_id``."""
    deadline = time.monotonic() + timeout
    while True:
        reply = client.get_shell_msg(timeout=max(deadline - time.monotonic(), 0.1))
        if reply["parent_header"].get("msg_id") == msg_id:
            return dict(reply["content"])


def _run(client: Any, code: str, **expressions: str) -> dict[str, Any]:
    """Run ``code``; the reply: ``status``, for an error ``ename`` and ``traceback``, and the
    text of each of ``expressions`` evaluated after it (in ``values``)."""
    content = _reply(client, client.execute(code, user_expressions=expressions))
    content["values"] = {
        name: value.get("data", {}).get("text/plain", value.get("evalue"))
        for name, value in content.get("user_expressions", {}).items()
    }
    return content


def _value(client: Any, code: str, expression: str) -> str:
    """The text of ``expression`` once ``code`` ran without error."""
    content = _run(client, code, value=expression)
    assert content["status"] == "ok", content.get("traceback")
    return str(content["values"]["value"])


def _error(client: Any, code: str) -> str:
    """The traceback the notebook shows for ``code``'s error, as one plain text."""
    content = _run(client, code)
    assert content["status"] == "error", f"{code!r} raised no error"
    return re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(content["traceback"]))  # no colours


def _settled(client: Any) -> None:
    """Wait until the kernel runs a cell again: a cell sent while it handles an interrupt
    may go unanswered, or be answered "aborted" (cells queued after an error are dropped for
    a moment); send another until one runs."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        try:
            if _reply(client, client.execute("pass"), timeout=5)["status"] == "ok":
                return
        except queue.Empty:
            continue
    raise TimeoutError("the kernel does not answer after an interrupt")


def _displays(client: Any, code: str) -> list[tuple[str, str]]:
    """The text displays ``code`` shows and updates, in order, once it ran without error
    (displays are sent before the kernel's idle status, unlike printed text)."""
    msg_id = client.execute(code)
    shown = []
    while True:
        msg = client.get_iopub_msg(timeout=DEADLINE)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] in ("display_data", "update_display_data"):
            shown.append((msg["msg_type"], msg["content"]["data"]["text/plain"]))
        assert msg["msg_type"] != "error", msg["content"]
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return shown


START = "import sabot_lab as sl\ncluster = sl.LocalCluster(agents=1)"
JOB = "sl.from_pydict({'x': list(range(100))}).agg(sl.col('x').sum()).submit(cluster).result(timeout=60).to_pylist()"
ALIVE = "all(p.poll() is None for p in [cluster.jobmanager_process, *cluster.agent_processes])"


def test_a_cluster_shows_its_start_and_outlives_an_interrupt(kernel: Any) -> None:
    manager, client = kernel
    shown = _displays(client, START)  # the status line while it starts: one output, updated
    assert shown[0] == ("display_data", "LocalCluster: starting the JobManager and 1 agents")
    assert any("agents 1 of 1 up" in text for _, text in shown)
    assert shown[-1][0] == "update_display_data" and "LocalCluster ready" in shown[-1][1]
    assert _value(client, "", JOB) == "[{'x': 4950}]"

    manager.interrupt_kernel()  # JupyterLab's Interrupt on an idle kernel, as in the report
    _settled(client)
    assert _value(client, "", JOB) == "[{'x': 4950}]"  # the same cluster, still there
    assert _value(client, "", ALIVE) == "True"


def test_errors_show_the_users_frames_and_message_not_sabot_labs(kernel: Any) -> None:
    _, client = kernel
    _run(client, "import sabot_lab as sl\nprices = sl.from_pydict({'price': [1.0, 2.0]})")

    shown = _error(client, "def pick(stream):\n    return stream.select('pricee')\n\npick(prices)")
    assert "SchemaError: column 'pricee' not found. Did you mean 'price'?" in shown
    assert "return stream.select('pricee')" in shown  # the user's own line, in their function
    assert "sabot_lab" not in shown and "IPython" not in shown  # no frame but the user's

    failing = "def first_of(batch):\n    return batch.column(0)[5]\n\nprices.map_batches(first_of).collect()"
    shown = _error(client, failing)
    assert "return batch.column(0)[5]" in shown and "IndexError" in shown
    assert "UDFError" in shown and "sabot_lab" not in shown


FAILING_JOB = """def halve(batch):
    return batch.slice(0, batch.num_rows // 0)

failing = sl.from_pydict({'x': [1, 2]}).map_batches(halve, schema=sl.from_pydict({'x': [1]}).schema)
failing.submit(cluster).result(timeout=60)"""


def test_a_failed_cluster_job_names_the_users_cell_and_line(kernel: Any) -> None:
    """The function ran pickled on an agent; its error names the notebook cell's file and line
    and shows the line, and ``%sabot jobs`` shows the error's message, not its traceback."""
    _, client = kernel
    assert _run(client, START)["status"] == "ok"
    shown = _error(client, FAILING_JOB)
    assert "ZeroDivisionError" in shown
    assert "return batch.slice(0, batch.num_rows // 0)" in shown and "in halve" in shown
    assert "<dynamic-code>" not in shown

    errors = (
        "get_ipython().run_line_magic('sabot', 'jobs --cluster cluster').table['error'].to_pylist()"
    )
    assert _value(client, "%load_ext sabot_lab", errors) == (
        "['ZeroDivisionError: integer division or modulo by zero']"
    )


SLOW_JOB = """import time, pyarrow as pa, sabot_lab as sl
cluster = sl.LocalCluster(agents=1, slots=1, heartbeat_interval=0.2)
def slow():
    for i in range(30):
        time.sleep(0.2)
        yield pa.record_batch({'x': pa.array(range(i * 10, i * 10 + 10))})
job = sl.from_iterable(slow, schema={'x': 'int64'}).submit(cluster)
display(job)"""


def _widget_updates(client: Any, code: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The widget state updates the kernel sends while it runs ``code`` (before it says it
    is idle again), and the reply."""
    msg_id = client.execute(code, user_expressions={"value": "rows"})
    updates = []
    while True:
        msg = client.get_iopub_msg(timeout=DEADLINE)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "comm_msg" and msg["content"]["data"].get("method") == "update":
            updates.append(msg["content"]["data"]["state"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return updates, _reply(client, msg_id)


def test_the_job_widget_moves_while_a_cell_waits_in_job_result(kernel: Any) -> None:
    _, client = kernel
    assert _run(client, SLOW_JOB)["status"] == "ok"
    updates, reply = _widget_updates(client, "rows = job.result().num_rows")
    assert reply["status"] == "ok"
    assert reply["user_expressions"]["value"]["data"]["text/plain"] == "300"
    rows = [u["rows"] for u in updates if "rows" in u]
    assert any(0 < r < 300 for r in rows), rows  # it counted while the cell was busy
    assert rows == sorted(rows)
    assert [u["state"] for u in updates if "state" in u][-1] == "FINISHED"
