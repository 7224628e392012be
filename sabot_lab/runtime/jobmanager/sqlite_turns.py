"""Writers of a JobManager's SQLite database take turns in its process, not in SQLite's busy
handler.

SQLite lets one transaction write at a time. A writer that finds the database locked waits in
the busy handler, which sleeps with growing pauses (up to 100 ms each) and lets later writers
pass it meanwhile: under a burst of submissions each submit's write waited behind the running
jobs' step records, for hundreds of milliseconds and at worst past the busy timeout ("database
is locked"). With :class:`TurnTakingConnection` a transaction that writes first takes the write
turn of its database file in this process, and gives it back when it commits or rolls back:
the JobManager's writers go one after the other with no pause between them, and those that
answer a client's call (:func:`writes_first`: a submit) go before the jobs' own. SQLite's own
lock (``BEGIN IMMEDIATE``, the busy timeout) still orders them with other processes.

May import nothing of sabot_lab but ``errors``.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["TurnTakingConnection", "WriteTurn", "write_turn", "writes_first"]

TURN_TIMEOUT = 30.0
"""Seconds a writer waits for its turn before it fails (as long as SQLite's busy timeout)."""

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN")
"""The statements that open a write transaction: those ``sqlite3`` begins one before (in
its default transaction control), and an explicit ``BEGIN``."""

_first: contextvars.ContextVar[bool] = contextvars.ContextVar("sabot_writes_first", default=False)


@contextlib.contextmanager
def writes_first() -> Iterator[None]:
    """Within this block, this thread's write transactions take their turn before those
    waiting outside such a block (a client waits for them; a job's steps can wait).

    >>> with writes_first():
    ...     _first.get()
    True
    """
    token = _first.set(True)
    try:
        yield
    finally:
        _first.reset(token)


class WriteTurn:
    """The turn to write one database: one holder at a time; a waiter in :func:`writes_first`
    goes before the others.

    >>> turn = WriteTurn()
    >>> turn.acquire(timeout=1), turn.locked(), turn.acquire(timeout=0.01)
    (True, True, False)
    >>> turn.release(); turn.locked()
    False
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._held = False
        self._first_waiting = 0

    def acquire(self, timeout: float) -> bool:
        """Take the turn within ``timeout`` seconds; whether it was taken."""
        first = _first.get()
        with self._changed:
            self._first_waiting += first
            try:
                taken = self._changed.wait_for(
                    lambda: not self._held and (first or not self._first_waiting), timeout
                )
            finally:
                self._first_waiting -= first
            if taken:
                self._held = True
            elif first:
                self._changed.notify_all()  # the others no longer wait for this one
            return taken

    def release(self) -> None:
        """Give the turn to the next waiter."""
        with self._changed:
            self._held = False
            self._changed.notify_all()

    def locked(self) -> bool:
        """Whether a transaction holds the turn."""
        return self._held


_turns: dict[str, WriteTurn] = {}
_turns_guard = threading.Lock()


def write_turn(database: str) -> WriteTurn | None:
    """The write turn of the SQLite file ``database`` in this process; None for an in-memory
    database (each connection has its own).

    >>> write_turn("/tmp/jobs.sqlite") is write_turn("/tmp/../tmp/jobs.sqlite"), write_turn(":memory:")
    (True, None)
    """
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        return None
    path = os.path.realpath(database)
    with _turns_guard:
        return _turns.setdefault(path, WriteTurn())


class TurnTakingConnection(sqlite3.Connection):
    """A ``sqlite3`` connection whose write transactions take their database's
    :func:`write_turn` first (``sqlite3.connect(path, factory=TurnTakingConnection)``).

    >>> import tempfile
    >>> path = tempfile.mkdtemp() + "/t.sqlite"
    >>> conn = sqlite3.connect(path, factory=TurnTakingConnection)
    >>> _ = conn.execute("CREATE TABLE t (x)")
    >>> _ = conn.execute("INSERT INTO t VALUES (1)")
    >>> write_turn(path).locked()  # held by the open transaction
    True
    >>> conn.commit()
    >>> write_turn(path).locked()
    False
    """

    def __init__(self, database: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._database = str(database)
        self._turn = write_turn(self._database)
        self._holding = False

    def cursor(self, factory: Any = None) -> sqlite3.Cursor:  # type: ignore[override]  # (one cursor class, no generic overloads)
        """A cursor taking the turn before a statement that writes."""
        return super().cursor(factory or _TurnTakingCursor)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        return self.cursor().executemany(sql, parameters)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._give_back()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._give_back()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._holding and self._turn is not None:  # its transaction rolled back
                self._holding = False
                self._turn.release()

    def _take_turn(self, statement: str) -> None:
        if self._turn is None or self._holding or self.in_transaction:
            return
        if not statement.lstrip()[:7].upper().startswith(_WRITES):
            return
        if not self._turn.acquire(timeout=TURN_TIMEOUT):
            raise sqlite3.OperationalError(
                f"database is locked: {self._database} had no turn to write for "
                f"{TURN_TIMEOUT:g} s: other transactions of this JobManager held it all along"
            )
        self._holding = True

    def _give_back(self) -> None:
        """End this connection's turn unless its transaction is still open."""
        if self._holding and not self.in_transaction and self._turn is not None:
            self._holding = False
            self._turn.release()


class _TurnTakingCursor(sqlite3.Cursor):
    connection: TurnTakingConnection

    def execute(self, sql: str, parameters: Any = (), /) -> _TurnTakingCursor:
        self.connection._take_turn(sql)
        try:
            super().execute(sql, parameters)
        finally:
            self.connection._give_back()  # a statement that failed, or ran without a transaction
        return self

    def executemany(self, sql: str, parameters: Any, /) -> _TurnTakingCursor:
        self.connection._take_turn(sql)
        try:
            super().executemany(sql, parameters)
        finally:
            self.connection._give_back()
        return self
