"""A real ``jupyter server`` with sabot-lab's server extension enabled by the file the wheel
installs, called over HTTP with its own token: what the server extension's tests run."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sabot_lab.client import stop_process
from tests.support.polling import wait_for
from tests.support.ports import ExitedAtStart, on_a_free_port

ENABLE_FILE = Path(__file__).parents[2] / "extension/jupyter-config/server-config/sabot_lab.json"
STARTUP_TIMEOUT = 60.0


@dataclass
class JupyterServer:
    """A running ``jupyter server``: its URL and token; every reply body it gave so far."""

    url: str
    token: str
    replies: list[str]

    def call(self, method: str, path: str, body: Any = None, token: bool = True) -> Any:
        """``method`` on ``/sabot/<path>``: the JSON reply; HTTPError when refused."""
        request = urllib.request.Request(
            f"{self.url}/sabot/{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}"} if token else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as reply:
                text = reply.read().decode()
        except urllib.error.HTTPError as refused:
            self.replies.append(refused.read().decode())
            raise
        self.replies.append(text)
        return json.loads(text) if text else None

    def clusters(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "clusters")["clusters"])


@contextlib.contextmanager
def jupyter_server(home: Path) -> Iterator[tuple[JupyterServer, subprocess.Popen[bytes]]]:
    """``jupyter server`` with its configuration under ``home`` and the extension enabled by
    the wheel's file, nothing else; stopped at the end. Its local clusters' registry is this
    process's (``XDG_RUNTIME_DIR`` as set now)."""
    config = home / "config" / "jupyter_server_config.d"
    config.mkdir(parents=True)
    shutil.copy(ENABLE_FILE, config)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
    }
    token = secrets.token_hex(16)
    log = home / "server.log"
    started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(port: int) -> None:
        command = [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={home}",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ]
        with open(log, "wb") as out:
            process = subprocess.Popen(command, env=env, stdout=out, stderr=out)
        url = f"http://127.0.0.1:{port}"
        started.append((url, process))
        probe = JupyterServer(url, token, [])

        def serving() -> bool:
            try:
                return process.poll() is not None or probe.call("GET", "clusters") is not None
            except OSError:
                return False

        wait_for(serving, timeout=STARTUP_TIMEOUT)
        if process.poll() is not None:
            raise ExitedAtStart(f"jupyter server exited:\n{log.read_text()}")
        assert serving(), f"jupyter server did not serve /sabot/clusters:\n{log.read_text()}"

    try:
        on_a_free_port(start)
        yield JupyterServer(started[-1][0], token, []), started[-1][1]
    finally:
        for _, process in started:
            stop_process(process, timeout=20)
