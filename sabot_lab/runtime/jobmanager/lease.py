"""The leader lease of JobManagers that share one PostgreSQL database: one row of
``leader_lease`` (:mod:`.tables`) says which JobManager leads, at which fencing ``epoch``,
until when.

A lease row rather than an advisory lock: a lock lives as long as its session, so a leader
frozen (SIGSTOP, a long pause) keeps it for as long as its TCP connection stays open, and a
leader whose connection broke loses it at once while it still believes it leads. A row
expires at a time of the database's clock, whatever happens to the processes and their
connections, and its ``epoch`` orders the leaders for fencing.

- :meth:`LeaderLease.acquire`: take the lease if it expired (or nobody ever held it): the
  epoch goes up by one, in the same statement.
- :meth:`LeaderLease.renew`: extend it while this JobManager still holds its epoch; the
  leader renews every ``lease_renew_interval`` seconds and, when it could not for
  ``lease_ttl - lease_renew_interval`` seconds (the database gone), steps down before the
  lease can expire (:meth:`LeaderLease.expiring`).
- :meth:`LeaderLease.fence`: in a transaction that decides (a job's state, a checkpoint's
  completion, a deploy), lock the row shared and check the epoch: a deposed leader's write
  is refused, and a takeover waits until that transaction ended (its ``UPDATE`` needs the
  row), so no write of an older epoch commits after a newer leader started.

Times are the database's, so the JobManagers' clocks need not agree. A lease runs
``lease_ttl`` seconds from its row's write (``clock_timestamp()``), and its holder counts
them from when it sent the statement plus the time the statement waited for the row's lock
(a takeover waits for a frozen leader's transaction until the server ends its session):
never later than the database's end of it.

May import SQLAlchemy, :mod:`.tables` and :mod:`sabot_lab.errors`.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from sabot_lab.errors import NotLeaderError
from sabot_lab.runtime.jobmanager.tables import leader_lease

__all__ = ["LEASE", "LeaderLease"]

LEASE = "jobmanager"
"""The name of the cluster's lease row."""


class LeaderLease:
    """The lease as seen by one JobManager, ``holder`` (its DBOS executor id) serving at
    ``address``, on ``engine`` (PostgreSQL, translated to the tables' schema).

    :attr:`epoch` is the epoch this JobManager holds (None while it does not lead).
    """

    def __init__(self, engine: sa.Engine, holder: str, address: str, ttl: float) -> None:
        self.engine = engine
        self.holder = holder
        self.address = address
        self.ttl = ttl
        self.epoch: int | None = None
        self._renewed = 0.0  # (monotonic) no later than the last successful renewal's write
        with engine.begin() as conn:
            conn.execute(
                postgresql.insert(leader_lease)
                .values(name=LEASE, holder="", address="", epoch=0, expires_at=0.0)
                .on_conflict_do_nothing(index_elements=[leader_lease.c.name])
            )

    def _until(self) -> Any:
        """The lease's end: ``ttl`` seconds after the row is written (``clock_timestamp()``,
        not the transaction's start: a write that waited for the row's lock, held by a
        leader frozen mid-transaction until the server ended its session, gets a whole
        lease; the row is locked first, see :meth:`_lock`)."""
        return sa.func.clock_timestamp() + sa.func.make_interval(0, 0, 0, 0, 0, 0, self.ttl)

    @staticmethod
    def _lock(conn: sa.Connection) -> None:
        """Lock the lease row for this transaction's update (an update's new values are
        computed before it waits for the row: locked first, they are computed after)."""
        conn.execute(sa.select(leader_lease.c.epoch).where(leader_lease.c.name == LEASE)
                     .with_for_update())  # fmt: skip

    @staticmethod
    def _waited() -> Any:
        """Seconds between the transaction's start and the row's write (a lock's wait)."""
        return sa.func.extract("epoch", sa.func.clock_timestamp() - sa.func.now())

    def acquire(self) -> int | None:
        """Take the lease if it expired: the new epoch, else None."""
        sent = time.monotonic()
        with self.engine.begin() as conn:
            self._lock(conn)
            taken = conn.execute(
                leader_lease.update()
                .where(leader_lease.c.name == LEASE, leader_lease.c.expires_at < sa.func.now())
                .values(
                    holder=self.holder,
                    address=self.address,
                    epoch=leader_lease.c.epoch + 1,
                    expires_at=self._until(),
                    acquired_at=sa.func.now(),
                )
                .returning(leader_lease.c.epoch, self._waited())
            ).first()
        if taken is None:
            return None
        self.epoch, self._renewed = int(taken[0]), sent + float(taken[1])
        return self.epoch

    def renew(self) -> bool:
        """Extend the lease held; False when another JobManager took it (deposed). Raises
        SQLAlchemy's errors when the database cannot be reached."""
        sent = time.monotonic()
        with self.engine.begin() as conn:
            self._lock(conn)
            done = conn.execute(
                leader_lease.update()
                .where(
                    leader_lease.c.name == LEASE,
                    leader_lease.c.holder == self.holder,
                    leader_lease.c.epoch == self.epoch,
                )
                .values(expires_at=self._until())
                .returning(leader_lease.c.epoch, self._waited())
            ).first()
        if done is None:
            return False
        self._renewed = sent + float(done[1])
        return True

    def expiring(self, renew_interval: float) -> bool:
        """Whether the lease may expire before the next renewal could extend it: the leader
        must stop deciding now (its last renewal that succeeded was sent ``ttl -
        renew_interval`` seconds ago or more)."""
        return self.seconds_left(renew_interval) <= 0

    def seconds_left(self, renew_interval: float) -> float:
        """Seconds until :meth:`expiring` (0 or less: it is)."""
        return self.ttl - renew_interval - (time.monotonic() - self._renewed)

    def current(self) -> dict[str, Any]:
        """The lease row: ``holder``, ``address``, ``epoch``, ``expires_at`` (seconds) and
        ``valid`` (whether it has not expired, by the database's clock)."""
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(
                        leader_lease.c.holder,
                        leader_lease.c.address,
                        leader_lease.c.epoch,
                        leader_lease.c.expires_at,
                        (leader_lease.c.expires_at > sa.func.now()).label("valid"),
                    ).where(leader_lease.c.name == LEASE)
                )
                .mappings()
                .one()
            )
        return dict(row)

    def fence(self, conn: sa.Connection) -> None:
        """In the transaction of ``conn``: lock the lease row shared and refuse (raise
        :class:`~sabot_lab.errors.NotLeaderError`) unless this JobManager holds the current
        epoch."""
        found = conn.execute(
            sa.select(leader_lease.c.epoch, leader_lease.c.address)
            .where(leader_lease.c.name == LEASE)
            .with_for_update(read=True)
        ).one()
        if self.epoch is None or found.epoch != self.epoch:
            raise NotLeaderError(
                f"this JobManager ({self.address}) does not lead at epoch {found.epoch}: "
                f"the leader is {found.address or 'not elected yet'}; its write was refused"
            )
