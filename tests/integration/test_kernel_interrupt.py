"""Interrupting a notebook's kernel stops the call it waits in, never its LocalCluster: a real
IPython kernel, interrupted as JupyterLab's Interrupt button does (``interrupt_kernel``, which
signals the kernel's whole process group), then the same cluster runs the next job."""

from __future__ import annotations

import queue
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
        client.execute("cluster.close()")
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _run(client: Any, code: str) -> dict[str, Any]:
    """Execute ``code`` and wait for its reply: ``status`` and, for an error, ``ename``."""
    msg_id = client.execute(code)
    while True:
        reply = client.get_shell_msg(timeout=DEADLINE)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"]


def _output(client: Any, code: str) -> str:
    msg_id = client.execute(code)
    text = []
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        msg = client.get_iopub_msg(timeout=DEADLINE)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            text.append(msg["content"]["text"])
        if msg["msg_type"] == "error":
            text.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return "".join(text)
    raise TimeoutError(code)


JOB = "print(sl.from_pydict({'x': list(range(100))}).agg(sl.col('x').sum()).submit(cluster).result(timeout=60).to_pylist())"


def test_interrupt_stops_the_wait_and_keeps_the_cluster(kernel: Any) -> None:
    manager, client = kernel
    assert (
        _run(client, "import sabot_lab as sl\ncluster = sl.LocalCluster(agents=1)")["status"]
        == "ok"
    )
    assert _output(client, JOB).strip() == "[{'x': 4950}]"

    manager.interrupt_kernel()  # an idle kernel, as in the report
    waiting = client.execute("import time\ntime.sleep(600)")  # a call that waits
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:  # the kernel is busy in the sleep
        msg = client.get_iopub_msg(timeout=DEADLINE)
        if msg["parent_header"].get("msg_id") == waiting and msg["msg_type"] == "execute_input":
            break
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
