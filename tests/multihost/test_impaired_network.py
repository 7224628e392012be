"""Slow, lossy links between the agent hosts (``VirtualCluster.impair``: 1 % of their frames
dropped at the switch, 100 ms ± 30 ms each way on their TCP connections): the links are
slow and lossy as asked, and a shuffle job across the three agents still equals DuckDB
exactly."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from cluster.netns.virtual_hosts import VirtualCluster
from sabot_lab.runtime.addresses import host_of
from tests.multihost.conftest import Cluster
from tests.multihost.shuffle_case import ShuffleCase

AGENT_HOSTS = ("agent1", "agent2", "agent3")
DELAY, JITTER, LOSS = 0.1, 0.03, 0.01
ECHO_PORT, COUNT_PORT = 7000, 7001
DATAGRAMS = 5_000
ECHO = (
    "import socketserver\n"
    "class Echo(socketserver.StreamRequestHandler):\n"
    "    def handle(self):\n"
    "        for line in self.rfile: self.wfile.write(line); self.wfile.flush()\n"
    "socketserver.ThreadingTCPServer.allow_reuse_address = True\n"
    f"socketserver.ThreadingTCPServer(('0.0.0.0', {ECHO_PORT}), Echo).serve_forever()\n"
)


COUNT = (  # prints how many datagrams came before the first "end"
    "import socket\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # (SO_RCVBUFFORCE: none dropped here)\n"
    f"s.bind(('0.0.0.0', {COUNT_PORT})); print('counting', flush=True); n = 0\n"
    "while s.recv(16) != b'end': n += 1\n"
    "print(n, flush=True)\n"
)


@pytest.fixture
def impaired(remote_cluster: Cluster) -> Iterator[VirtualCluster]:
    """The hosts, the links between the agents slow and lossy (healed after the test)."""
    hosts = remote_cluster.hosts
    hosts.impair(AGENT_HOSTS, loss=LOSS, delay=DELAY, jitter=JITTER, seed=24)
    try:
        yield hosts
    finally:
        hosts.heal_impairment()


def round_trips(hosts: VirtualCluster, source: str, target: str, n: int = 10) -> list[float]:
    """Seconds each of ``n`` lines took to come back from the echo server on ``target``."""
    probe = (
        "import socket, time\n"
        f"s = socket.create_connection(({hosts.addresses[target]!r}, {ECHO_PORT}), 10)\n"
        "s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)\n"
        f"for _ in range({n}):\n"
        "    began = time.monotonic(); s.sendall(b'ping\\n'); got = b''\n"
        "    while not got.endswith(b'\\n'): got += s.recv(64)\n"
        "    print(time.monotonic() - began)\n"
    )
    done = hosts.run(source, [sys.executable, "-c", probe], timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return [float(line) for line in done.stdout.split()]


def test_the_links_between_agents_are_slow_and_lossy_and_the_others_not(
    impaired: VirtualCluster,
) -> None:
    hosts = impaired
    hosts.python("agent2", "-c", ECHO, port=ECHO_PORT)
    assert min(round_trips(hosts, "agent1", "agent2")) >= 2 * (DELAY - JITTER)  # both ways
    assert max(round_trips(hosts, "client", "agent2")) < DELAY
    assert [c.split(" -> ")[1] for c in hosts.relayed("agent1")] == [
        f"{hosts.addresses['agent2']}:{ECHO_PORT}"
    ]
    counter = hosts.python("agent2", "-c", COUNT, ready="counting")
    send = (
        "import socket, time\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        f"to = ({hosts.addresses['agent2']!r}, {COUNT_PORT})\n"
        f"for _ in range({DATAGRAMS}): s.sendto(b'datagram', to)\n"
        "for _ in range(50): s.sendto(b'end', to); time.sleep(0.01)\n"
    )
    assert hosts.run("agent1", [sys.executable, "-c", send], timeout=60).returncode == 0
    counter.popen.wait(timeout=60)
    arrived = int(counter.lines[-1])
    seen, dropped = hosts.lost_frames()
    print(f"{arrived} of {DATAGRAMS} datagrams arrived; {dropped} of {seen} frames dropped",
          file=sys.stderr)  # fmt: skip
    assert DATAGRAMS * (1 - 3 * LOSS) < arrived < DATAGRAMS
    assert DATAGRAMS - arrived <= dropped
    assert dropped < seen * 3 * LOSS


def test_a_shuffle_job_across_slow_lossy_links_between_agents_equals_duckdb(
    remote_cluster: Cluster, impaired: VirtualCluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    hosts = impaired
    case = ShuffleCase(tmp_path_factory.mktemp("shared"), rows=200_000, row_group=20_000)
    ran = remote_cluster.client("shuffle", *case.args())
    seen, dropped = hosts.lost_frames()
    print(f"shuffle: {dropped} of {seen} frames between agents dropped", file=sys.stderr)
    assert ran["state"] == "FINISHED"
    assert {host_of(uri) for uri in ran["agents"]} == {hosts.addresses[h] for h in AGENT_HOSTS}
    # the shuffle's connections between agents went through the delaying relays
    for host in AGENT_HOSTS:
        targets = {c.split(" -> ")[1].rsplit(":", 1)[0] for c in hosts.relayed(host)}
        others = {hosts.addresses[h] for h in AGENT_HOSTS if h != host}
        assert targets and targets <= others, (host, hosts.relayed(host))
    assert seen > 0
    case.check()
