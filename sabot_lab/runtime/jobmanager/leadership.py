"""Which JobManager of a cluster decides: on PostgreSQL, the one holding the leader lease
(:mod:`.lease`); on SQLite, the only one (its work directory is locked, so a second
JobManager on the same files is refused).

:class:`Leadership` runs the lease in a thread: a standby tries to take the lease every
``lease_renew_interval`` seconds and, once it holds it, calls ``elected(epoch)`` (the
JobManager then launches DBOS, recovers the old leader's workflows and serves); the leader
renews it as often and calls ``deposed(reason)`` when another JobManager took it or when
it could not renew it long enough that it may expire (the database gone): it must stop
deciding at once.

May import SQLAlchemy, :mod:`.lease`, :mod:`sabot_lab.errors` and
:mod:`sabot_lab.config`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as NoAnswer
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from sabot_lab.config import get_config
from sabot_lab.errors import ClusterError, NotLeaderError
from sabot_lab.runtime.jobmanager.lease import LeaderLease

__all__ = ["Leadership", "lock_workdir"]

_log = logging.getLogger("sabot_lab.jobmanager")


def lock_workdir(workdir: Path) -> IO[str]:
    """Hold the lock of a JobManager's SQLite files in ``workdir`` for as long as the file
    returned stays open (the process's life); a second JobManager on them is refused.

    >>> import tempfile
    >>> where = Path(tempfile.mkdtemp())
    >>> held = lock_workdir(where)
    >>> lock_workdir(where)
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ClusterError: another JobManager (pid ...) runs on the SQLite databases in ...
    >>> held.close()
    """
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "jobmanager.lock"
    lock = path.open("a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "?"
        lock.close()
        raise ClusterError(
            f"another JobManager (pid {holder}) runs on the SQLite databases in {workdir}: "
            "SQLite serves one JobManager; for a standby that takes over, run them all on "
            "one PostgreSQL database (--db postgresql://..., SABOT_DATABASE_URL)"
        ) from None
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock


class Leadership:
    """The leader lease of the JobManager serving at ``address`` with DBOS executor id
    ``holder``, on ``engine``; ``elected(epoch)`` and ``deposed(reason)`` are called from
    its thread (:meth:`start`).

    :attr:`leading`: whether this JobManager decides now.
    """

    def __init__(
        self,
        engine: sa.Engine,
        holder: str,
        address: str,
        elected: Callable[[int], None],
        deposed: Callable[[str], None],
    ) -> None:
        cluster = get_config().cluster
        self.lease = LeaderLease(engine, holder, address, cluster.lease_ttl)
        self.interval = cluster.lease_renew_interval
        self.leading = False
        self._elected = elected
        self._deposed = deposed
        self._stop = threading.Event()
        self._renewer = ThreadPoolExecutor(1, thread_name_prefix="sabot-lease-renew")

    @property
    def epoch(self) -> int | None:
        """The epoch this JobManager leads at (None while it does not)."""
        return self.lease.epoch if self.leading else None

    def start(self) -> None:
        """Run the lease in a thread until :meth:`stop` (or this JobManager is deposed)."""
        threading.Thread(target=self._run, name="sabot-lease", daemon=True).start()

    def stop(self) -> None:
        """Stop taking and renewing the lease (it expires by itself)."""
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.leading:
                reason = self._renew()
                if reason is not None:
                    self.leading = False
                    self._stop.set()
                    _log.error("stepping down: %s", reason)
                    self._deposed(reason)
                    return
            else:
                self._try_acquire()
            self._stop.wait(self.interval if self.leading else self.interval / 4)

    def _renew(self) -> str | None:
        """Renew the lease: None, or why this JobManager must stop leading."""
        lease = self.lease
        if lease.expiring(self.interval):  # (a pause: the lease may be another's already)
            return f"the leader lease (epoch {lease.epoch}) was not renewed in time"
        renewal = self._renewer.submit(lease.renew)
        try:  # (a database cut off silently never answers: stop waiting when it is too late)
            renewed = renewal.result(timeout=max(lease.seconds_left(self.interval), 0.0))
        except NoAnswer:
            return (
                f"the database did not answer the renewal of the leader lease (epoch "
                f"{lease.epoch}) before it may expire"
            )
        except sa.exc.SQLAlchemyError as exc:
            if lease.expiring(self.interval):
                return f"the database cannot be reached to renew the leader lease ({exc})"
            _log.warning("renewing the leader lease failed, retrying: %s", exc)
            return None
        return None if renewed else "another JobManager took the leader lease"

    def _try_acquire(self) -> None:
        try:
            epoch = self.lease.acquire()
        except sa.exc.SQLAlchemyError as exc:
            _log.warning("cannot read the leader lease: %s", exc)
            return
        if epoch is not None:  # (taking over may take longer than renewing: not in this thread)
            _log.info("leading the cluster at epoch %d", epoch)
            self.leading = True
            threading.Thread(target=self._elected, args=(epoch,), name="sabot-takeover").start()

    def refusal(self, address: str) -> NotLeaderError:
        """The error a standby answers a call that needs the leader with."""
        try:
            row: dict[str, Any] = self.lease.current()
        except sa.exc.SQLAlchemyError:
            row = {"address": "", "valid": False, "epoch": "?"}
        leader = row["address"] if row["valid"] and row["address"] != address else None
        where = f"the leader is {leader} (epoch {row['epoch']})" if leader else (
            "no leader right now (a takeover is under way): try again in a few seconds"
        )  # fmt: skip
        return NotLeaderError(f"this JobManager ({address}) is a standby, not the leader: {where}")
