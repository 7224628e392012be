"""What a server tells its caller about a failure it did not expect: the error's type and
message and an error id, never the traceback (it names the server's files and code). The
traceback goes to the server's log under the same id, so an operator can find it.

Errors of sabot-lab itself (:class:`~sabot_lab.errors.SabotError`, a user function's
:class:`~sabot_lab.errors.UDFError` with the user's own traceback) are meant for the user and
pass as they are.

>>> import logging
>>> try:
...     {}["price"]
... except KeyError as exc:
...     report = reported(exc, "the status call", logging.getLogger("doctest"))
>>> report.startswith("KeyError: 'price' (error ") and report.endswith("in its server's log)")
True
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Iterator

import pyarrow.flight as flight

from sabot_lab.errors import SabotError

__all__ = ["failures_reported", "reported"]


def reported(exc: BaseException, what: str, log: logging.Logger) -> str:
    """The message a caller gets for ``exc``, raised while doing ``what``; unless it is a
    sabot-lab error, its traceback is logged to ``log`` under the error id the message names."""
    if isinstance(exc, SabotError):
        return f"{type(exc).__name__}: {exc}"
    error_id = secrets.token_hex(6)
    log.error("%s failed [error %s]", what, error_id, exc_info=exc)
    return f"{type(exc).__name__}: {exc} (error {error_id}: its traceback is in its server's log)"


@contextlib.contextmanager
def failures_reported(what: str, log: logging.Logger) -> Iterator[None]:
    """Serve a Flight call doing ``what``: a Flight error passes, a sabot-lab error becomes a
    Flight error with its message, anything else one with its message and an error id (its
    traceback logged to ``log``, see :func:`reported`).

    >>> with failures_reported("a call", logging.getLogger("doctest")):
    ...     1 / 0
    Traceback (most recent call last):
    ...
    pyarrow._flight.FlightServerError: ZeroDivisionError: division by zero (error ...)
    """
    try:
        yield
    except flight.FlightError:
        raise
    except SabotError as exc:  # (its class named, for the client: see errors.REMOTE_ERRORS)
        raise flight.FlightServerError(str(exc), extra_info=type(exc).__name__.encode()) from None
    except Exception as exc:
        raise flight.FlightServerError(reported(exc, what, log)) from None
