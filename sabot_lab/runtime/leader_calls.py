"""Calls to whichever of a cluster's JobManagers leads: a client or an agent given every
JobManager's address (``"grpc://a:8815,grpc://b:8815"`` or a list) follows the leader.

A standby refuses calls with :class:`~sabot_lab.errors.NotLeaderError`; a dead leader does
not answer (:class:`~sabot_lab.errors.UnreachableError`), a frozen one not in time
(:class:`~sabot_lab.errors.NoReplyError`). :class:`LeaderCalls` then tries
the others, round after round, until one answers or ``patience`` seconds passed since the
first of them failed (a takeover takes the lease's ``lease_ttl`` seconds and a little more;
a call a dying leader held before it went counts for nothing); the JobManager that
answered is tried first next time. With one address only a refusal is retried (a JobManager
restarted on PostgreSQL waits for its own old lease to expire); that it is unreachable is the
caller's error at once.

May import the wire layer (:mod:`.transport`), :mod:`sabot_lab.config` and
:mod:`sabot_lab.errors`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sabot_lab.config import get_config
from sabot_lab.errors import ClusterError, NoReplyError, NotLeaderError, UnreachableError
from sabot_lab.runtime.transport import ANONYMOUS, Credentials, call

__all__ = ["LeaderCalls", "jobmanager_addresses"]


def jobmanager_addresses(given: str | Sequence[str]) -> tuple[str, ...]:
    """The JobManagers' addresses in ``given``: a comma-separated string or a list.

    >>> jobmanager_addresses("grpc://a:1, grpc://b:2")
    ('grpc://a:1', 'grpc://b:2')
    >>> jobmanager_addresses(["grpc://a:1"])
    ('grpc://a:1',)
    >>> jobmanager_addresses(" , ")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ClusterError: no JobManager address in ' , ' (give grpc://host:port, or several separated by commas)
    """
    parts = given.split(",") if isinstance(given, str) else list(given)
    addresses = tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))
    if not addresses:
        raise ClusterError(
            f"no JobManager address in {given!r} (give grpc://host:port, or several "
            "separated by commas)"
        )
    return addresses


class LeaderCalls:
    """JSON actions on the leading JobManager of ``addresses`` (see the module's text);
    :attr:`uri` is the one that answered last (the first address until then).

    >>> calls = LeaderCalls("grpc://127.0.0.1:1,grpc://127.0.0.1:2", patience=0)
    >>> calls.uri, calls.addresses
    ('grpc://127.0.0.1:1', ('grpc://127.0.0.1:1', 'grpc://127.0.0.1:2'))
    >>> calls.call("ping", timeout=2)
    Traceback (most recent call last):
    ...
    sabot_lab.errors.UnreachableError: no JobManager of grpc://127.0.0.1:1, grpc://127.0.0.1:2 leads: ...
    """

    def __init__(
        self,
        addresses: str | Sequence[str],
        auth: Credentials = ANONYMOUS,
        patience: float | None = None,
    ) -> None:
        self.addresses = jobmanager_addresses(addresses)
        self.uri = self.addresses[0]
        self.auth = auth
        cluster = get_config().cluster
        self.patience = 3 * cluster.lease_ttl + 10 if patience is None else patience

    def call(self, name: str, payload: Any = None, timeout: float = 30.0) -> Any:
        """Run action ``name`` on the leader; raise its error, or when no JobManager led
        within :attr:`patience` seconds of the first refusal, the last refusals."""
        deadline: float | None = None
        while True:
            refusals: list[ClusterError] = []
            for uri in (self.uri, *(a for a in self.addresses if a != self.uri)):
                try:
                    reply = call(uri, name, payload, self.auth, timeout)
                except NotLeaderError as exc:
                    refusals.append(exc)
                except (UnreachableError, NoReplyError) as exc:
                    if len(self.addresses) == 1:
                        raise
                    refusals.append(exc)
                else:
                    self.uri = uri
                    return reply
                if deadline is None:
                    deadline = time.monotonic() + self.patience
            if deadline is not None and time.monotonic() >= deadline:
                kind = NotLeaderError if any(isinstance(e, NotLeaderError) for e in refusals) \
                    else UnreachableError  # fmt: skip
                raise kind(
                    f"no JobManager of {', '.join(self.addresses)} leads: "
                    + "; ".join(str(e) for e in refusals)
                )
            time.sleep(0.2)  # a takeover under way
