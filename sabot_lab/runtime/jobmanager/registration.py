"""The JobManager's check of an agent that registers: it must answer at the URI it gave,
since the JobManager deploys tasks there and other agents read its shuffle rows there. An
agent it cannot reach back (an ``--advertise-host`` that is wrong, a firewall, another
network) is refused at once with what to fix, rather than registered and then failing
every job's tasks.

May import ``runtime.protocol``, ``runtime.addresses``, ``runtime.transport`` and
:mod:`sabot_lab.errors`.

>>> from sabot_lab.runtime.transport import ANONYMOUS
>>> check_registration(Heartbeat("grpc://127.0.0.1:9", "STARTING"), None, ANONYMOUS)
Traceback (most recent call last):
...
sabot_lab.errors.RegistrationRefusedError: the JobManager cannot reach this agent back at grpc://127.0.0.1:9 (...): start the agent with --advertise-host set to an address (or name) the JobManager's host reaches it at (SABOT_ADVERTISE_HOST)
"""

from __future__ import annotations

import logging

from sabot_lab.errors import ClusterError, RegistrationRefusedError
from sabot_lab.runtime.addresses import host_of, is_wildcard
from sabot_lab.runtime.protocol import AgentState, Heartbeat
from sabot_lab.runtime.transport import Credentials, call

__all__ = ["REACH_BACK_TIMEOUT", "check_registration", "registers"]

_log = logging.getLogger("sabot_lab.jobmanager")

REACH_BACK_TIMEOUT = 5.0
"""Seconds the JobManager waits for a registering agent to answer its ping (well within the
agent's wait for the reply, ``REGISTRATION_TIMEOUT``)."""


def registers(beat: Heartbeat, known: AgentState | None) -> bool:
    """Whether ``beat`` registers its agent (whose state the JobManager knew as ``known``):
    the agent is starting, or an agent unknown here says it takes tasks.

    >>> registers(Heartbeat("grpc://a:1", "STARTING"), AgentState.ACTIVE)
    True
    >>> registers(Heartbeat("grpc://a:1", "ACTIVE"), None), registers(
    ...     Heartbeat("grpc://a:1", "ACTIVE"), AgentState.ACTIVE)
    (True, False)
    """
    state = AgentState(beat.state)
    return state == AgentState.STARTING or (known is None and state.serving)


def check_registration(
    beat: Heartbeat,
    known: AgentState | None,
    auth: Credentials,
    timeout: float = REACH_BACK_TIMEOUT,
) -> None:
    """Raise :class:`~sabot_lab.errors.RegistrationRefusedError` (and log it) if ``beat``
    comes from a wildcard address (``grpc://0.0.0.0:...``), or :func:`registers` an agent
    that does not answer a ping at its URI within ``timeout`` seconds, or answers as another
    agent."""
    problem: str | None = None
    if is_wildcard(host_of(beat.uri)):  # (it may even answer: 0.0.0.0 is this host here)
        problem = "a wildcard address, which no other host can reach"
    elif registers(beat, known):
        problem = _unanswered(beat.uri, auth, timeout)
    if problem is None:
        return
    message = (
        f"the JobManager cannot reach this agent back at {beat.uri} ({problem}): start the "
        "agent with --advertise-host set to an address (or name) the JobManager's host "
        "reaches it at (SABOT_ADVERTISE_HOST)"
    )
    _log.warning("refused to register agent %s: %s", beat.uri, message)
    raise RegistrationRefusedError(message)


def _unanswered(uri: str, auth: Credentials, timeout: float) -> str | None:
    """Why the agent at ``uri`` did not answer a ping as itself; None if it did."""
    try:
        reply = call(uri, "ping", None, auth, timeout=timeout)
    except ClusterError as exc:
        return str(exc).removeprefix(f"{uri}: ")
    answered = reply.get("uri") if isinstance(reply, dict) else None
    return None if answered == uri else f"a server there answered as {answered}"
