"""The virtual hosts themselves (``cluster/netns``): each host reaches the others at its
address, a cut host reaches none (or not the peers it was cut from) until healed, and the
namespaces of a run whose process died are removed by the next run with the same prefix."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from cluster.netns.host_process import HostProcess
from cluster.netns.virtual_hosts import (
    VirtualCluster,
    namespace_name,
    namespaces,
    require_root,
)

PREFIX = "slabtest"
"""Not the default prefix: other runs' clusters are none of these tests' business."""
ECHO_PORT = 7000
SERVE = (
    "import socketserver\n"
    "class Echo(socketserver.StreamRequestHandler):\n"
    "    def handle(self): self.wfile.write(self.rfile.readline())\n"
    "socketserver.TCPServer.allow_reuse_address = True\n"
    f"socketserver.TCPServer(('0.0.0.0', {ECHO_PORT}), Echo).serve_forever()\n"
)


@pytest.fixture(scope="module")
def three() -> Iterator[VirtualCluster]:
    """Hosts ``a``, ``b`` and ``c``, an echo server on ``a``; nothing left after."""
    try:
        require_root()
    except PermissionError as exc:
        pytest.fail(str(exc), pytrace=False)
    with VirtualCluster(["a", "b", "c"], prefix=PREFIX) as made:
        made.python("a", "-c", SERVE, port=ECHO_PORT)
        yield made
    assert made.existing() == [] and made.processes == []


def reaches(hosts: VirtualCluster, source: str, target: str = "a") -> bool:
    """Whether ``source`` gets its line echoed back by the server on ``target``."""
    probe = (
        "import socket\n"
        f"s = socket.create_connection(({hosts.addresses[target]!r}, {ECHO_PORT}), 1.5)\n"
        "s.settimeout(1.5); s.sendall(b'hello\\n'); print(s.recv(64).decode().strip())\n"
    )
    done = hosts.run(source, [sys.executable, "-c", probe], timeout=30)
    return done.returncode == 0 and done.stdout.strip() == "hello"


def test_each_host_has_its_address_and_reaches_the_others(three: VirtualCluster) -> None:
    assert three.addresses == {"a": "10.77.0.1", "b": "10.77.0.2", "c": "10.77.0.3"}
    shown = three.run("b", ["ip", "-4", "-br", "addr", "show", "dev", "eth0"]).stdout.split()
    assert shown[2] == "10.77.0.2/24"
    assert reaches(three, "b") and reaches(three, "c") and reaches(three, "a")


def test_a_cut_host_reaches_nobody_until_healed(three: VirtualCluster) -> None:
    three.cut("a")
    try:
        assert three.is_cut("a")
        assert not reaches(three, "b") and not reaches(three, "c")
        assert reaches(three, "a")  # (its own address, inside the host: no link crossed)
    finally:
        three.heal("a")
    assert not three.is_cut("a")
    assert reaches(three, "b") and reaches(three, "c")


def test_a_host_cut_from_some_peers_still_reaches_the_others(three: VirtualCluster) -> None:
    three.cut("a", peers=["b"])
    try:
        assert not reaches(three, "b") and reaches(three, "c")
    finally:
        three.heal("a")
    assert reaches(three, "b")


def test_the_namespaces_of_a_run_whose_process_died_are_removed_by_the_next_run() -> None:
    try:
        require_root()
    except PermissionError as exc:
        pytest.fail(str(exc), pytrace=False)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    live = VirtualCluster(["x"], prefix=PREFIX, run="1x0").up(keep=True)  # (pid 1 lives)
    crashed = VirtualCluster(["x"], prefix=PREFIX, run=f"{int(dead.stdout)}x0").up(keep=True)
    sleeper: HostProcess = crashed.start("x", ["sleep", "300"])
    assert sleeper.log.parent == crashed.workdir and crashed.workdir.exists()
    try:
        left = [namespace_name(PREFIX, crashed.run_id, h) for h in ("x", "switch")]
        assert set(left) <= set(namespaces(PREFIX))
        with VirtualCluster(["y"], prefix=PREFIX) as next_run:
            assert not set(left) & set(namespaces(PREFIX))  # gone, with what ran in them
            assert not crashed.workdir.exists()  # (and its processes' logs)
            assert sleeper.popen.wait(timeout=30) != 0
            assert set(live.existing()) == {
                namespace_name(PREFIX, live.run_id, h) for h in ("x", "switch")
            }
            assert len(next_run.existing()) == 2
    finally:
        crashed.down()
        live.down()
    assert [n for n in namespaces(PREFIX) if n.startswith(f"{PREFIX}-1x0-")] == []
