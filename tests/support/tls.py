"""For the TLS tests: a self-signed certificate made with ``openssl``, and a cluster server
of one action, ``echo``, whose credentials and TLS the test chooses."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Any

import pyarrow.flight as flight

from sabot_lab.runtime.transport import ClusterServer, Credentials, ServerTls, dispatch


class Echo(ClusterServer):
    """A cluster server on loopback with one action, ``echo``, serving from a thread."""

    def __init__(self, auth: Credentials, tls: ServerTls) -> None:
        super().__init__("127.0.0.1", 0, auth, tls)
        threading.Thread(target=self.serve, daemon=True).start()

    def do_action(self, context: flight.ServerCallContext, action: flight.Action) -> Any:
        return dispatch(action, {"echo": lambda body: body})


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key: ``(cert, key)`` in ``directory``."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key
