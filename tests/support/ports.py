"""Servers of tests on loopback ports: find a free port, wait until a process listens on it,
and start again on another port when someone else took the first one."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable

import psutil


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ExitedAtStart(RuntimeError):
    """A server process ended before it listened (e.g. another process took its port)."""


def wait_listening(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    """Wait until ``process`` itself listens on ``port`` (30 s at most); another process
    holding the port does not count."""
    deadline = time.monotonic() + 30
    while not _listens(process.pid, port):
        if process.poll() is not None:
            raise ExitedAtStart(f"{what} exited at start on port {port}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start on port {port}")
        time.sleep(0.05)


def _listens(pid: int, port: int) -> bool:
    try:
        connections = psutil.Process(pid).net_connections("tcp")
    except psutil.NoSuchProcess:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in connections)


def on_a_free_port(start: Callable[[int], None], attempts: int = 3) -> None:
    """Call ``start(port)`` with a free port, again with another one while the server exits at
    start: a port found free may be taken by another process before the server binds it."""
    for attempt in range(attempts):
        try:
            start(free_port())
            return
        except ExitedAtStart:
            if attempt == attempts - 1:
                raise
