"""A cluster of several JobManager processes on one PostgreSQL database (one leads, the others
stand by) and agent processes given all their addresses: for the failover tests and
``benchmarks/failover.py``."""

from __future__ import annotations

import os
import secrets
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import sabot_lab as sl
from sabot_lab.errors import ClusterError
from sabot_lab.runtime.protocol import Role
from sabot_lab.runtime.transport import PARENT_PID, Credentials, call


class FailoverCluster:
    """``jobmanagers`` JobManagers sharing the work directory ``root/jm`` and the database
    ``database_url`` (``jm-0``, the leader, reaches it at ``first_url`` when given: a proxy),
    and ``agents`` agents; :meth:`close` kills every process."""

    def __init__(
        self,
        root: Path,
        database_url: str,
        jobmanagers: int = 2,
        agents: int = 2,
        heartbeat_timeout: float = 3.0,
        first_url: str | None = None,
    ) -> None:
        self.root = root
        self.database_url = database_url
        self.heartbeat_timeout = heartbeat_timeout
        self.submit_token = secrets.token_urlsafe(32)
        self.cluster_token = secrets.token_urlsafe(32)
        self.processes: dict[str, subprocess.Popen[str]] = {}
        self.uris: list[str] = []
        try:
            self.uris.append(self.start_jobmanager(0, database_url=first_url))
            deadline = time.monotonic() + 60
            while self.leaders() != [0] and time.monotonic() < deadline:
                time.sleep(0.05)  # the first one leads
            for n in range(1, jobmanagers):
                self.uris.append(self.start_jobmanager(n))
            for n in range(agents):
                self._start(f"agent-{n}", ["agent", "--jobmanager", ",".join(self.uris),
                                           "--heartbeat-interval", "0.2",
                                           "--workdir", str(root / "agents")])  # fmt: skip
        except BaseException:
            self.close()
            raise

    def start_jobmanager(self, n: int, port: int = 0, database_url: str | None = None) -> str:
        """Start JobManager ``jm-n`` (on ``port``); its URI once it serves (as a standby, or
        the leader)."""
        url = database_url or self.database_url
        return self._start(f"jm-{n}", ["jobmanager", "--workdir", str(self.root / "jm"),
                                       "--port", str(port), "--db", url,
                                       "--heartbeat-timeout", str(self.heartbeat_timeout)])  # fmt: skip

    def _start(self, name: str, args: list[str]) -> str:
        env = {
            **os.environ,
            Role.SUBMIT.variable: self.submit_token,
            Role.CLUSTER.variable: self.cluster_token,
            "SABOT_LOG_FILE": str(self.root / f"{name}.log"),
            PARENT_PID: str(os.getpid()),
        }
        env.pop(Role.READ.variable, None)
        with open(self.root / f"{name}.stderr", "a") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "sabot_lab.cli", *args],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=env,
                start_new_session=True,
            )
        self.processes[name] = process
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline() if ready else ""
        if " ready " not in line:
            raise ClusterError(f"{name} did not start: {self.stderr(name)[-2000:]}")
        return line.split()[-1]

    def stderr(self, name: str) -> str:
        """What process ``name`` wrote on its standard error."""
        path = self.root / f"{name}.stderr"
        return path.read_text() if path.exists() else ""

    def connect(self) -> sl.Cluster:
        """A client given every JobManager's address."""
        return sl.connect(",".join(self.uris), token=self.submit_token)

    def ping(self, n: int) -> dict[str, Any] | None:
        """What JobManager ``jm-n`` says of its role; None if it does not answer."""
        try:
            reply = call(self.uris[n], "ping", None, Credentials(self.submit_token), timeout=2)
        except ClusterError:
            return None
        return dict(reply)

    def leaders(self) -> list[int]:
        """The JobManagers that say they lead now."""
        return [n for n in range(len(self.uris)) if (self.ping(n) or {}).get("role") == "leader"]

    def signal(self, name: str, sig: signal.Signals) -> None:
        """Send ``sig`` to process ``name`` (SIGKILL: and wait for its end)."""
        process = self.processes[name]
        process.send_signal(sig)
        if sig == signal.SIGKILL:
            process.wait()

    def close(self) -> None:
        """Kill every process (a stopped one too)."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
                process.wait()

    def __enter__(self) -> FailoverCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
