"""A virtual multi-host cluster on one Linux machine: each host (``db``, ``jm1``, ``jm2``,
``agent1..N``, ``client``) is a network namespace with its own address on one /24 subnet,
all plugged into one bridge, so sabot-lab's servers talk to each other over a real network
stack instead of loopback.

The bridge lives in a namespace of its own (the *switch*), not in the machine's: the
machine's routes and firewall never see the cluster's traffic, and two clusters (two test
runs) can use the same subnet side by side. Each host's ``eth0`` is one end of a veth pair
whose other end, ``p-<host>``, is a port of the bridge. Cutting a host's links drops its
frames at its port (an nftables ``bridge`` table in the switch), as a pulled cable does:
packets vanish, no error comes back to anyone. The hosts share the machine's filesystem (a
file written in one is read in the others) and its users. :meth:`VirtualCluster.impair`
makes the links between some hosts lossy and slow (see :mod:`cluster.netns.impairment`).

Namespaces are named ``<prefix>-<run>-<host>``: ``run`` is ``<pid>x<n>`` for a cluster that a
process builds (the n-th of process pid), so the namespaces of a run whose process died (a
crashed test run) are found and removed by the next cluster built with the same prefix
(:func:`remove_leftovers`); the command line's (``netns.py up``) are named ``<prefix>-cli-``
and stay until ``netns.py down``. A :class:`VirtualCluster` tears itself down on leaving its
``with`` block, also after an error, and at the latest when the interpreter exits.

Needs root (network namespaces), ``ip`` (iproute2) and ``nft`` (nftables); ``make
system-test-deps`` installs both. ``tc netem`` is not used (not every kernel has it).

May import the standard library, :mod:`cluster.netns.host_process` and
:mod:`cluster.netns.impairment` only (it starts sabot-lab as the command line does).

>>> namespace_name("slab", "123x0", "agent1")
'slab-123x0-agent1'
>>> host_addresses(["jm1", "agent1", "client"], "10.77.0")
{'jm1': '10.77.0.1', 'agent1': '10.77.0.2', 'client': '10.77.0.3'}
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from cluster.netns.host_process import HostProcess
from cluster.netns.impairment import (
    IMPAIR_TABLE,
    RELAY_PORT,
    dropped_frames,
    loss_rules,
    redirect_rules,
)

__all__ = [
    "PREFIX",
    "SUBNET",
    "VirtualCluster",
    "cluster_hosts",
    "host_addresses",
    "namespace_name",
    "namespaces",
    "remove_leftovers",
    "remove_namespaces",
    "require_root",
]

PREFIX = "slab"
"""The first part of the names of the namespaces a cluster makes."""
SUBNET = "10.77.0"
"""The cluster's /24 subnet (its first three bytes): hosts get .1, .2, ... in order."""
PROJECT = Path(__file__).resolve().parents[2]
"""The checkout: processes in the hosts import sabot-lab from it (``PYTHONPATH``)."""

_SWITCH = "switch"  # (the namespace holding the bridge; no host may take the name)
_CUT_TABLE = "sabot_cut"
_RUNS = itertools.count()
_RUN = re.compile(r"(?P<pid>\d+)x\d+")


def namespace_name(prefix: str, run: str, host: str) -> str:
    """The name of ``host``'s namespace in cluster ``run``.

    >>> namespace_name("slab", "cli", "db")
    'slab-cli-db'
    """
    return f"{prefix}-{run}-{host}"


def cluster_hosts(agents: int = 3, db: bool = True, jobmanagers: int = 2) -> list[str]:
    """The hosts of a cluster: ``db``, ``jm1..``, ``agent1..N``, ``client``.

    >>> cluster_hosts(2, db=False, jobmanagers=1)
    ['jm1', 'agent1', 'agent2', 'client']
    """
    return [
        *(["db"] if db else []),
        *(f"jm{i}" for i in range(1, jobmanagers + 1)),
        *(f"agent{i}" for i in range(1, agents + 1)),
        "client",
    ]


def host_addresses(hosts: Sequence[str], subnet: str = SUBNET) -> dict[str, str]:
    """Each host's address: ``subnet.1``, ``subnet.2``, ... in the order of ``hosts``.

    >>> host_addresses(["db"], "10.9.9")
    {'db': '10.9.9.1'}
    """
    if len(hosts) > 250:
        raise ValueError(f"{len(hosts)} hosts do not fit a /24 subnet")
    return {host: f"{subnet}.{i}" for i, host in enumerate(hosts, start=1)}


def require_root() -> None:
    """Raise :class:`PermissionError`, saying what to do, unless this process is root and
    has ``ip`` and ``nft``."""
    if os.geteuid() != 0:
        raise PermissionError(
            "the virtual multi-host cluster needs root (it makes network namespaces): run "
            "as root (CI does), e.g. sudo -E env PATH=$PATH python -m pytest tests/multihost"
        )
    missing = [tool for tool in ("ip", "nft") if shutil.which(tool) is None]
    if missing:
        raise PermissionError(
            f"the virtual multi-host cluster needs {' and '.join(missing)}: install iproute2 "
            "and nftables (make system-test-deps, or apt-get install iproute2 nftables)"
        )


def namespaces(prefix: str = PREFIX) -> list[str]:
    """The network namespaces whose names start with ``prefix-`` (``ip netns list``)."""
    if shutil.which("ip") is None:
        return []
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    names = (line.split()[0] for line in listed.splitlines() if line.strip())
    return sorted(name for name in names if name.startswith(f"{prefix}-"))


def remove_namespaces(names: Iterable[str]) -> None:
    """Kill the processes inside the namespaces ``names`` and delete them (their veth pairs
    go with them)."""
    for name in names:
        listed = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
        for pid in listed.stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)


def remove_leftovers(prefix: str = PREFIX) -> list[str]:
    """Remove the namespaces of the clusters named with ``prefix`` whose process is gone
    (crashed runs), and their directories (:attr:`VirtualCluster.workdir`); the names
    removed."""
    gone = [name for name in namespaces(prefix) if _owner_gone(prefix, name)]
    remove_namespaces(gone)
    runs = {name.rsplit("-", 1)[0] for name in gone}
    for directory in Path(tempfile.gettempdir()).glob(f"{prefix}-*"):
        if directory.name.rsplit("-", 1)[0] in runs:
            shutil.rmtree(directory, ignore_errors=True)
    return gone


def _owner_gone(prefix: str, name: str) -> bool:
    run = _RUN.match(name[len(prefix) + 1 :])
    if run is None:
        return False  # the command line's, or another prefix's: not ours to judge
    try:
        os.kill(int(run["pid"]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class VirtualCluster:
    """The hosts ``hosts`` as network namespaces on one bridge (see the module's text).

    ``with VirtualCluster(cluster_hosts(3)) as c:`` builds them (removing first the leftovers
    of crashed runs with the same ``prefix``) and tears everything down at the end: the
    processes it started, then the namespaces. :attr:`addresses` gives each host's address.
    """

    def __init__(
        self,
        hosts: Sequence[str],
        prefix: str = PREFIX,
        subnet: str = SUBNET,
        run: str | None = None,
    ) -> None:
        if _SWITCH in hosts or len(set(hosts)) != len(hosts):
            raise ValueError(f"hosts must differ and none be named {_SWITCH!r}: {hosts}")
        too_long = [h for h in hosts if len(f"p-{h}") > 15]  # (an interface name's limit)
        if too_long:
            raise ValueError(f"host names of at most 13 characters: {too_long}")
        self.prefix = prefix
        self.run_id = run or f"{os.getpid()}x{next(_RUNS)}"
        self.addresses = host_addresses(hosts, subnet)
        """Each host's address on the cluster's subnet."""
        self.processes: list[HostProcess] = []
        """The processes started in the hosts, until :meth:`down`."""
        self._workdir: Path | None = None
        self._up = False
        self._relays: dict[str, HostProcess] = {}  # (the delaying relays of :meth:`impair`)

    @property
    def workdir(self) -> Path:
        """A directory of this run (its processes' logs), removed by :meth:`down`."""
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-{self.run_id}-"))
        return self._workdir

    # -- building and tearing down ----------------------------------------------------
    def namespace(self, host: str) -> str:
        """The network namespace of ``host``."""
        if host != _SWITCH and host not in self.addresses:
            raise KeyError(f"no host {host!r} in this cluster: {sorted(self.addresses)}")
        return namespace_name(self.prefix, self.run_id, host)

    def up(self, keep: bool = False) -> VirtualCluster:
        """Build the switch and the hosts; on a failure, remove what was built and raise.
        Unless ``keep``, they go when this interpreter exits, at the latest."""
        require_root()
        remove_leftovers(self.prefix)
        if not keep:
            atexit.register(self.down)
        self._up = True
        try:
            switch = self.namespace(_SWITCH)
            _ip("netns", "add", switch)
            _ip("-n", switch, "link", "add", "br0", "type", "bridge")
            _ip("-n", switch, "link", "set", "dev", "br0", "up")
            for host, address in self.addresses.items():
                ns = self.namespace(host)
                _ip("netns", "add", ns)
                _ip("link", "add", "eth0", "netns", ns, "type", "veth",
                    "peer", "name", f"p-{host}", "netns", switch)  # fmt: skip
                _ip("-n", switch, "link", "set", "dev", f"p-{host}", "master", "br0", "up")
                _ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "dev", "eth0", "up")
                _ip("-n", ns, "link", "set", "dev", "lo", "up")
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> None:
        """Stop the processes started in the hosts, delete the namespaces and this run's
        directory; does nothing the second time."""
        if not self._up:
            return
        self._up = False
        atexit.unregister(self.down)
        for process in reversed(self.processes):  # (a server outlives its clients: db last)
            with contextlib.suppress(Exception):
                process.stop(timeout=10)
        self.processes.clear()
        self._relays.clear()
        remove_namespaces(
            namespace_name(self.prefix, self.run_id, h) for h in [*self.addresses, _SWITCH]
        )
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> VirtualCluster:
        return self.up()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.down()

    def existing(self) -> list[str]:
        """This cluster's namespaces that exist now (``ip netns list``)."""
        return [n for n in namespaces(self.prefix) if n.startswith(f"{self.prefix}-{self.run_id}-")]

    # -- running things in the hosts ----------------------------------------------------
    def command(self, host: str, argv: Sequence[str], user: str | None = None) -> list[str]:
        """``argv`` as run in ``host`` (as ``user``, by default this process's)."""
        as_user = ["runuser", "-u", user, "--"] if user else []
        return ["ip", "netns", "exec", self.namespace(host), *as_user, *argv]

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """This process's environment, importing sabot-lab from the checkout, with ``extra``;
        a Python process that crashes prints its threads' tracebacks (``PYTHONFAULTHANDLER``)."""
        python_path = os.pathsep.join(p for p in (str(PROJECT), os.environ.get("PYTHONPATH")) if p)
        return {**os.environ, "PYTHONPATH": python_path, "PYTHONFAULTHANDLER": "1", **(extra or {})}

    def run(
        self,
        host: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        timeout: float = 300.0,
        user: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in ``host`` to its end (its output captured)."""
        return subprocess.run(
            self.command(host, argv, user),
            env=self.environment(env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(
        self,
        host: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        ready: str | None = None,
        timeout: float = 60.0,
        user: str | None = None,
    ) -> HostProcess:
        """Start ``argv`` in ``host``, and wait (up to ``timeout`` seconds) for its ``port``
        to accept connections at the host's address and for a line starting with ``ready``,
        when given. It is stopped by :meth:`down` (or its own :meth:`HostProcess.stop`)."""
        name = Path(argv[0]).name if argv else "process"
        log = self.workdir / f"{host}-{name}-{len(self.processes)}.log"
        with log.open("w") as stderr:
            popen = subprocess.Popen(
                self.command(host, argv, user),
                env=self.environment(env),
                stdout=subprocess.PIPE,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                text=True,
            )
        process = HostProcess(host, popen, log)
        self.processes.append(process)
        if ready is not None:
            process.wait_for_line(ready, timeout)
        if port is not None:
            self.wait_for_port(host, port, timeout=timeout)
        return process

    def python(self, host: str, *args: str, **kwargs: object) -> HostProcess:
        """Start this interpreter with ``args`` in ``host`` (as :meth:`start`)."""
        return self.start(host, [sys.executable, *args], **kwargs)  # type: ignore[arg-type]

    def sabot_lab(self, host: str, *args: str, **kwargs: object) -> HostProcess:
        """Start the ``sabot-lab`` command line with ``args`` in ``host`` (as :meth:`start`)."""
        return self.python(host, "-m", "sabot_lab.cli", *args, **kwargs)

    def wait_for_port(
        self, host: str, port: int, from_host: str | None = None, timeout: float = 60.0
    ) -> None:
        """Wait until ``host`` accepts TCP connections on ``port`` at its address, as seen
        from ``from_host`` (default: ``host`` itself); raise :class:`TimeoutError` if it did
        not within ``timeout`` seconds."""
        probe = (
            "import socket, sys, time\n"
            f"deadline = time.monotonic() + {timeout}\n"
            "while True:\n"
            "    try:\n"
            f"        socket.create_connection(({self.addresses[host]!r}, {port}), 2).close()\n"
            "        break\n"
            "    except OSError:\n"
            "        if time.monotonic() > deadline: sys.exit(1)\n"
            "        time.sleep(0.05)\n"
        )
        done = self.run(from_host or host, [sys.executable, "-c", probe], timeout=timeout + 30)
        if done.returncode != 0:
            raise TimeoutError(
                f"{host}:{port} ({self.addresses[host]}) accepted no connection within "
                f"{timeout:g} s"
            )

    # -- network faults -----------------------------------------------------------------
    def cut(self, host: str, peers: Iterable[str] | None = None) -> None:
        """Cut ``host``'s links (to ``peers`` only, when given): its frames to and from them
        are dropped at its bridge port, in both directions, until :meth:`heal`."""
        port = self._port(host)
        if peers is None:
            rules = [f'iifname "{port}" drop', f'oifname "{port}" drop']
        else:
            others = [self._port(p) for p in peers]
            rules = [
                rule
                for other in others
                for rule in (
                    f'iifname "{port}" oifname "{other}" drop',
                    f'iifname "{other}" oifname "{port}" drop',
                )
            ]
        table = f"{_CUT_TABLE}_{host}"  # (one per host: healing one leaves the others cut)
        script = "\n".join(
            [
                f"table bridge {table} {{",
                "  chain forward {",
                "    type filter hook forward priority 0; policy accept;",
                *(f"    {rule}" for rule in rules),
                "  }",
                "}",
            ]
        )
        self.heal(host)
        _nft(self.namespace(_SWITCH), "-f", "-", stdin=script)

    def heal(self, host: str) -> None:
        """Undo :meth:`cut` of ``host`` (nothing if its links were not cut)."""
        if self.is_cut(host):
            _nft(self.namespace(_SWITCH), "delete", "table", "bridge", f"{_CUT_TABLE}_{host}")

    def is_cut(self, host: str) -> bool:
        """Whether ``host``'s links are cut (:meth:`cut`)."""
        self._port(host)
        listed = _nft(self.namespace(_SWITCH), "list", "tables")
        return f"table bridge {_CUT_TABLE}_{host}" in listed.splitlines()

    def impair(
        self,
        hosts: Sequence[str],
        loss: float = 0.0,
        delay: float = 0.0,
        jitter: float = 0.0,
        seed: int | None = None,
    ) -> None:
        """Make the links between ``hosts`` lossy and slow, until :meth:`heal_impairment`:
        the share ``loss`` of their frames is dropped at the switch, and their new TCP
        connections are held back ``delay ± jitter`` seconds each way by a relay in the
        connecting host (see :mod:`cluster.netns.impairment`; ``seed``: of the jitter's
        draws). Connections already open are not delayed."""
        self.heal_impairment()
        addresses = {h: self.addresses[h] for h in hosts}  # (raises for an unknown host)
        try:
            if loss:
                script = loss_rules(IMPAIR_TABLE, [self._port(h) for h in hosts], loss)
                _nft(self.namespace(_SWITCH), "-f", "-", stdin=script)
            if delay:
                for host in hosts:
                    self._relays[host] = self.python(
                        host, "-m", "cluster.netns.delay_relay", "--port", str(RELAY_PORT),
                        "--delay", str(delay), "--jitter", str(jitter),
                        *(["--seed", str(seed)] if seed is not None else []),
                        ready="delay relay ready ",
                    )  # fmt: skip
                    peers = [a for h, a in addresses.items() if h != host]
                    script = redirect_rules(IMPAIR_TABLE, peers, RELAY_PORT)
                    _nft(self.namespace(host), "-f", "-", stdin=script)
        except BaseException:
            self.heal_impairment()
            raise

    def heal_impairment(self) -> None:
        """Undo :meth:`impair` (nothing if no link is impaired); connections the relays
        carried are closed."""
        if self._impaired(_SWITCH):
            _nft(self.namespace(_SWITCH), "delete", "table", "bridge", IMPAIR_TABLE)
        for host, relay in list(self._relays.items()):
            if self._impaired(host):
                _nft(self.namespace(host), "delete", "table", "ip", IMPAIR_TABLE)
            relay.stop(timeout=10)
            self.processes.remove(relay)
            del self._relays[host]

    def relayed(self, host: str) -> list[str]:
        """The connections ``host``'s delaying relay carried (``SOURCE -> TARGET``)."""
        relay = self._relays.get(host)
        lines = [] if relay is None else list(relay.lines)
        return [line.removeprefix("relayed ") for line in lines if line.startswith("relayed ")]

    def lost_frames(self) -> tuple[int, int]:
        """The frames between the impaired hosts seen and dropped so far (0, 0 without
        loss)."""
        if not self._impaired(_SWITCH):
            return 0, 0
        return dropped_frames(_nft(self.namespace(_SWITCH), "list", "table", "bridge",
                                   IMPAIR_TABLE))  # fmt: skip

    def _impaired(self, host: str) -> bool:
        listed = _nft(self.namespace(host), "list", "tables").splitlines()
        return any(line.split()[-1:] == [IMPAIR_TABLE] for line in listed)

    def _port(self, host: str) -> str:
        """The bridge port of ``host``."""
        self.namespace(host)  # (raises for an unknown host)
        return f"p-{host}"


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")


def _nft(namespace: str, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, "nft", *args],
        input=stdin,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"nft {' '.join(args)} in {namespace} failed: {done.stderr.strip()}")
    return done.stdout
