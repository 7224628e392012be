"""What a highly available cluster's deployment (:mod:`cluster.netns.ha_deployment`) asks
from the ``client`` host: ``python -m cluster.netns.ha_commands COMMAND URIS ARGS...`` prints
one JSON line. ``URIS`` are the JobManagers' addresses separated by commas (the client
follows the leader); the submit token comes from ``SABOT_TOKEN``, the CA and this client's
certificate from ``SABOT_TLS_CA``, ``SABOT_TLS_CERT`` and ``SABOT_TLS_KEY``.

- ``agents URIS N``: wait (up to 60 s) until N agents are ACTIVE; the agents.
- ``roles URIS``: what each JobManager says of its role (its ``ping``, and its HTTPS
  ``/health`` status and body), or the error it gave.

May import the standard library and sabot-lab's client side (``sabot_lab``,
``sabot_lab.runtime.transport``) only.

>>> sorted(COMMANDS)
['agents', 'roles']
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import sabot_lab as sl
from sabot_lab.client import Cluster
from sabot_lab.errors import ClusterError
from sabot_lab.runtime.transport import Credentials, call

__all__ = ["COMMANDS", "health", "main", "roles", "wait_for_agents"]


def wait_for_agents(cluster: Cluster, n: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    """The agents once ``n`` of them are ACTIVE (or all of them after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        agents = cluster.agents()
        active = [a for a in agents if a["state"] in ("ACTIVE", "BUSY")]
        if len(active) >= n or time.monotonic() > deadline:
            return agents
        time.sleep(0.1)


def health(url: str) -> dict[str, Any]:
    """The status and body of ``url``'s ``/health``, over HTTPS trusting ``SABOT_TLS_CA``."""
    context = ssl.create_default_context(cafile=os.environ.get("SABOT_TLS_CA"))
    if os.environ.get("SABOT_TLS_CERT"):
        context.load_cert_chain(os.environ["SABOT_TLS_CERT"], os.environ["SABOT_TLS_KEY"])
    try:
        with urllib.request.urlopen(url + "/health", timeout=10, context=context) as reply:
            return {"status": reply.status, **json.load(reply)}
    except urllib.error.HTTPError as exc:
        return {"status": exc.code, **json.load(exc)}


def roles(uris: list[str]) -> dict[str, Any]:
    """Each JobManager's ping and ``/health``, or ``{"error": ...}``, by address."""
    credentials = Credentials.from_env()
    said: dict[str, Any] = {}
    for uri in uris:
        try:
            ping = dict(call(uri, "ping", None, credentials, timeout=5))
            said[uri] = {**ping, "health": health(ping["http"])}
        except (ClusterError, OSError) as exc:
            said[uri] = {"error": str(exc)}
    return said


COMMANDS: dict[str, Callable[[str, list[str]], Any]] = {
    "agents": lambda uris, args: wait_for_agents(sl.connect(uris), int(args[0])),
    "roles": lambda uris, args: roles(uris.split(",")),
}
"""Each command: a function of the JobManagers' addresses and the command's arguments."""


def main(argv: list[str]) -> None:
    """Run one command (see the module's text) and print its JSON."""
    command, uris, *args = argv
    if command not in COMMANDS:
        raise SystemExit(f"unknown command {command!r}: one of {', '.join(sorted(COMMANDS))}")
    print(json.dumps(COMMANDS[command](uris, args), default=str), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
