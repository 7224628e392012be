"""One-time dashboard codes and the browser sessions they open.

A client holding a read-level credential asks the JobManager for a code (the
``dashboard_code`` Flight action) and links to ``/login?code=<code>``; the HTTP endpoint
(:mod:`.http`) exchanges a valid, unused code for a session id kept here and sent back as a
cookie. Codes are random (192 bits), single-use and short-lived, and at most
:data:`MAX_CODES` wait at once (the oldest is dropped); sessions live
``dashboard_session_ttl`` seconds and at most :data:`MAX_SESSIONS` at once. Only digests of
codes and session ids are kept, so looking one up reveals nothing through its timing.

May import: the standard library and :mod:`sabot_lab.config`.

>>> logins = DashboardLogins(code_ttl=60, session_ttl=3600)
>>> code = logins.issue()
>>> session = logins.redeem(code)
>>> logins.valid(session), logins.redeem(code), logins.valid("made-up")
(True, None, False)
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable

from sabot_lab.config import get_config

__all__ = ["MAX_CODES", "MAX_SESSIONS", "DashboardLogins"]

MAX_CODES = 64
"""Unused codes kept at once; a new one beyond them replaces the oldest."""
MAX_SESSIONS = 1024
"""Browser sessions kept at once; a new one beyond them ends the oldest."""


class DashboardLogins:
    """The one-time codes issued and the sessions opened with them (thread-safe).

    ``code_ttl`` and ``session_ttl`` (seconds) default to
    :class:`~sabot_lab.config.ClusterConfig`'s ``dashboard_code_ttl`` and
    ``dashboard_session_ttl``; ``clock`` gives the time in seconds.

    >>> now = [0.0]
    >>> logins = DashboardLogins(code_ttl=60, session_ttl=600, clock=lambda: now[0])
    >>> code = logins.issue(); now[0] = 61.0
    >>> logins.redeem(code) is None  # expired
    True
    >>> session = logins.redeem(logins.issue()); now[0] = 700.0
    >>> logins.valid(session)
    False
    """

    def __init__(
        self,
        code_ttl: float | None = None,
        session_ttl: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        settings = get_config().cluster
        self.code_ttl = settings.dashboard_code_ttl if code_ttl is None else code_ttl
        self.session_ttl = settings.dashboard_session_ttl if session_ttl is None else session_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._codes: dict[bytes, float] = {}  # digest -> expiry, oldest first
        self._sessions: dict[bytes, float] = {}

    def issue(self) -> str:
        """A new one-time code, valid for ``code_ttl`` seconds.

        >>> len(DashboardLogins().issue()) >= 32
        True
        """
        code = secrets.token_urlsafe(24)
        with self._lock:
            now = self._clock()
            _keep(self._codes, _digest(code), now + self.code_ttl, now, MAX_CODES)
        return code

    def redeem(self, code: str) -> str | None:
        """A new session id for a valid, unused ``code`` (which is then used up); else None.

        >>> DashboardLogins().redeem("never-issued") is None
        True
        """
        with self._lock:
            expiry = self._codes.pop(_digest(code), None)
            now = self._clock()
            if expiry is None or expiry < now:
                return None
            session = secrets.token_urlsafe(32)
            _keep(self._sessions, _digest(session), now + self.session_ttl, now, MAX_SESSIONS)
        return session

    def valid(self, session: str) -> bool:
        """Whether ``session`` is the id of a session that has not expired.

        >>> DashboardLogins().valid("")
        False
        """
        with self._lock:
            expiry = self._sessions.get(_digest(session))
            return expiry is not None and expiry >= self._clock()


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _keep(entries: dict[bytes, float], key: bytes, expiry: float, now: float, limit: int) -> None:
    """Add ``key`` (valid until ``expiry``) to ``entries`` after dropping the expired ones,
    and the oldest beyond ``limit``."""
    for old in [k for k, e in entries.items() if e < now]:
        del entries[old]
    while len(entries) >= limit:
        del entries[next(iter(entries))]
    entries[key] = expiry
