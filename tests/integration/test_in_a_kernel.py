"""sabot-lab in a real IPython kernel, driven as JupyterLab drives it (``jupyter_client``): a
LocalCluster shows what is up while it starts; interrupting the kernel stops the call it waits
in, never the cluster; an error shows the user's frames and its one-line message, not
sabot-lab's frames."""

from __future__ import annotations

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
        client.execute("if 'cluster' in globals(): cluster.close()")
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _run(client: Any, code: str) -> dict[str, Any]:
    """Execute ``code`` and wait for its reply: ``status`` and, for an error, ``ename``."""
    msg_id = client.execute(code)
    while True:
        reply = client.get_shell_msg(timeout=DEADLINE)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"]


def _settled(client: Any) -> None:
    """Wait until the kernel runs a cell again: a cell sent while it handles an interrupt
    may go unanswered, or be answered "aborted" (cells queued after an error are dropped for
    a moment); send another until one runs."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        msg_id = client.execute("pass")
        try:
            while True:
                reply = client.get_shell_msg(timeout=5)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
        except queue.Empty:
            continue
        if reply["content"]["status"] == "ok":
            return
    raise TimeoutError("the kernel does not answer after an interrupt")


def _messages(client: Any, code: str) -> list[dict[str, Any]]:
    """The IOPub messages ``code`` produces, until the kernel is idle again."""
    msg_id = client.execute(code)
    messages = []
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        msg = client.get_iopub_msg(timeout=DEADLINE)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return messages
    raise TimeoutError(code)


def _error(client: Any, code: str) -> str:
    """The traceback the notebook shows for ``code``'s error, as one plain text."""
    errors = [m["content"] for m in _messages(client, code) if m["msg_type"] == "error"]
    assert len(errors) == 1, f"{code!r} raised no error"
    return re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(errors[0]["traceback"]))  # no colours


def _output(client: Any, code: str) -> str:
    """What ``code`` prints, and its error as ``Type: message``."""
    text = []
    for msg in _messages(client, code):
        if msg["msg_type"] == "stream":
            text.append(msg["content"]["text"])
        if msg["msg_type"] == "error":
            text.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")
    return "".join(text)


JOB = "print(sl.from_pydict({'x': list(range(100))}).agg(sl.col('x').sum()).submit(cluster).result(timeout=60).to_pylist())"


def test_a_cluster_shows_its_start_and_outlives_an_interrupt(kernel: Any) -> None:
    manager, client = kernel
    started = _messages(client, "import sabot_lab as sl\ncluster = sl.LocalCluster(agents=1)")
    shown = [  # the status line while it starts: one output, updated in place
        (m["msg_type"], m["content"]["data"]["text/plain"])
        for m in started
        if m["msg_type"] in ("display_data", "update_display_data")
    ]
    assert shown[0] == ("display_data", "LocalCluster: starting the JobManager and 1 agents")
    assert any("agents 1 of 1 up" in text for _, text in shown)
    assert shown[-1][0] == "update_display_data" and "LocalCluster ready" in shown[-1][1]
    assert not [m for m in started if m["msg_type"] == "error"]
    assert _output(client, JOB).strip() == "[{'x': 4950}]"

    manager.interrupt_kernel()  # an idle kernel, as in the report
    _settled(client)
    waiting = client.execute("import time\ntime.sleep(600)")  # a call that waits
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:  # the kernel is busy in the sleep
        msg = client.get_iopub_msg(timeout=DEADLINE)
        if msg["parent_header"].get("msg_id") == waiting and msg["msg_type"] == "execute_input":
            break
    else:
        raise TimeoutError("the kernel did not start the waiting cell")
    reply = None
    while reply is None and time.monotonic() < deadline:  # until the wait is interrupted
        manager.interrupt_kernel()
        try:
            msg = client.get_shell_msg(timeout=5)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") == waiting:
            reply = msg
    assert reply is not None
    assert reply["content"]["ename"] == "KeyboardInterrupt"

    assert _output(client, JOB).strip() == "[{'x': 4950}]"
    assert (
        _output(
            client,
            "print(all(p.poll() is None for p in [cluster.jobmanager_process, *cluster.agent_processes]))",
        ).strip()
        == "True"
    )


def test_errors_show_the_users_frames_and_message_not_sabot_labs(kernel: Any) -> None:
    _, client = kernel
    _run(client, "import sabot_lab as sl\nprices = sl.from_pydict({'price': [1.0, 2.0]})")

    shown = _error(client, "def pick(stream):\n    return stream.select('pricee')\n\npick(prices)")
    assert "SchemaError: column 'pricee' not found. Did you mean 'price'?" in shown
    assert "return stream.select('pricee')" in shown  # the user's own line, in their function
    assert "sabot_lab" not in shown  # no frame of sabot-lab's

    failing = "def first_of(batch):\n    return batch.column(0)[5]\n\nprices.map_batches(first_of).collect()"
    shown = _error(client, failing)
    assert "return batch.column(0)[5]" in shown and "IndexError" in shown
    assert "UDFError" in shown and "sabot_lab" not in shown
