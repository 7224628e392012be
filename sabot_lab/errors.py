"""The sabot-lab error hierarchy.

Every error names the object at fault, the problem and, where one exists, the fix.

>>> import sabot_lab as sl
>>> try:
...     sl.from_pydict({"price": [1.0]}).select("pricee")
... except sl.SchemaError as err:
...     print(err)
column 'pricee' not found. Did you mean 'price'? Available columns: price
"""

from __future__ import annotations

import difflib
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "AuthenticationError",
    "ClusterError",
    "ComputeError",
    "JobNotFoundError",
    "LocationError",
    "NoReplyError",
    "NotLeaderError",
    "PerformanceWarning",
    "PlanError",
    "RegistrationRefusedError",
    "SQLError",
    "SabotError",
    "SchemaError",
    "SourceError",
    "TlsError",
    "UDFCompileError",
    "UDFError",
    "UnreachableError",
    "closest_match",
    "column_not_found",
    "in_package",
]


class SabotError(Exception):
    """Base class of every error sabot-lab raises on purpose.

    In IPython and Jupyter it shows as the caller's own frames and its one-line message,
    without sabot-lab's frames between them (see :meth:`_render_traceback_`).
    """

    def _render_traceback_(self) -> list[str]:
        """The lines IPython shows for this error: the frames of the code that called into
        sabot-lab (not sabot-lab's own), then ``Type: message``; a cause raised in the
        user's code (a user function) comes first, with its frames.

        >>> def user_code():
        ...     raise PlanError("no such column")
        >>> try:
        ...     user_code()
        ... except PlanError as err:
        ...     print(*err._render_traceback_(), sep="\\n")
        Traceback (most recent call last):
          File "<doctest ...>", line 2, in <module>
            user_code()
          File "<doctest ...>", line 2, in user_code
            raise PlanError("no such column")
        PlanError: no such column
        """
        lines: list[str] = []
        cause = self.__cause__
        if cause is not None and not isinstance(cause, SabotError):
            lines += [*_callers_frames(cause), f"{type(cause).__name__}: {cause}", ""]
            lines += ["The above exception was the direct cause of the following exception:", ""]
        return [*lines, *_callers_frames(self), f"{type(self).__name__}: {self}"]


_PACKAGE_DIR = Path(__file__).resolve().parent
"""The folder of sabot-lab's own modules."""


def in_package(filename: str, folder: Path = _PACKAGE_DIR) -> bool:
    """Whether the file a frame names lies in ``folder`` (by default sabot-lab's own).

    >>> in_package(__file__), in_package("/home/q/etl.py"), in_package("<stdin>")
    (True, False, False)
    """
    return Path(filename).resolve().is_relative_to(folder)


def _hidden_folders() -> list[Path]:
    """The folders whose frames an error does not show: sabot-lab's, and IPython's (the
    shell running the user's cell, which IPython's own tracebacks leave out too)."""
    folders = [_PACKAGE_DIR]
    shell_file = getattr(sys.modules.get("IPython"), "__file__", None)
    if shell_file:
        folders.append(Path(shell_file).resolve().parent)
    return folders


def _callers_frames(error: BaseException) -> list[str]:
    """``Traceback ...`` and the frames of ``error``'s traceback that are the user's: those
    until the call into sabot-lab, and those of user code it called (a user function)."""
    hidden = _hidden_folders()
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not any(in_package(frame.filename, folder) for folder in hidden)
    ]
    if not frames:
        return []
    listed = [line.rstrip("\n") for line in traceback.format_list(frames)]
    return ["Traceback (most recent call last):", *listed]


class PlanError(SabotError):
    """A pipeline cannot be built or is not a valid plan (wrong arguments, bad graph)."""


class SchemaError(PlanError):
    """A column is missing, duplicated, or has a type the operation cannot take."""


class SQLError(PlanError):
    """A SQL query cannot be parsed or turned into a pipeline; ``line`` and ``column`` (1-based)
    point at the fault in ``query`` when known, and the message shows that line.

    >>> err = SQLError("unknown table 'qoutes'", line=1, column=15, query="SELECT * FROM qoutes")
    >>> err.line, err.column
    (1, 15)
    >>> print(err)
    line 1, column 15: unknown table 'qoutes'
      SELECT * FROM qoutes
                    ^
    """

    def __init__(
        self, message: str, line: int | None = None, column: int | None = None, query: str = ""
    ) -> None:
        text = message if line is None else f"line {line}, column {column}: {message}"
        lines = query.splitlines()
        if line is not None and column is not None and 0 < line <= len(lines):
            text += f"\n  {lines[line - 1]}\n  {' ' * (column - 1)}^"
        super().__init__(text)
        self.message, self.line, self.column, self.query = message, line, column, query

    def __reduce__(self) -> tuple[type[SQLError], tuple[str, int | None, int | None, str]]:
        return (SQLError, (self.message, self.line, self.column, self.query))


class SourceError(SabotError):
    """A source cannot be read (missing file, consumed generator, bad records)."""


class ComputeError(SabotError):
    """Evaluating an expression failed on real data (overflow, division by zero, bad cast)."""


class UDFError(SabotError):
    """A user function raised; the message names the operator and carries the user's traceback."""


class UDFCompileError(PlanError):
    """numba cannot compile a user function (``@sl.udf``): the message names the construct, its
    line in the function, and offers ``compile=False``; raised when the plan is built."""


class ClusterError(SabotError):
    """A cluster call failed: a server unreachable, a token refused, a task failed remotely."""


class AuthenticationError(ClusterError):
    """A server refused the caller's token (missing, or not the cluster's)."""


class UnreachableError(ClusterError):
    """No server answered at the address (not running, wrong address, or a network between)."""


class TlsError(ClusterError):
    """A TLS handshake with a server failed: the message names the cause (a certificate not
    trusted, missing or refused) and the setting that fixes it."""


class NoReplyError(ClusterError):
    """A server took the call but did not answer within its timeout (busy, or frozen)."""


class JobNotFoundError(ClusterError):
    """The cluster has no job of that id (never submitted there, or deleted)."""


class NotLeaderError(ClusterError):
    """The JobManager asked is a standby (or a deposed leader): another one leads the
    cluster; the message names it. A client or agent given every JobManager's address
    tries the others."""


class RegistrationRefusedError(ClusterError):
    """The JobManager refused to register an agent: it cannot reach the agent back at the
    address the agent gave (set the agent's ``--advertise-host``)."""


REMOTE_ERRORS = {
    cls.__name__: cls for cls in (JobNotFoundError, NotLeaderError, RegistrationRefusedError)
}
"""The errors a server's reply names that a client raises as such (any other a server
reports is a :class:`ClusterError`)."""


class LocationError(SabotError):
    """A checkpoint or savepoint location that cannot be opened, read or written."""


class PerformanceWarning(UserWarning):
    """A plan that runs, but would take far more time or memory than it needs to (e.g. a large
    cross product); the message names the operator, its inputs and what to change.
    ``warnings.filterwarnings("error", category=sl.PerformanceWarning)`` makes it an error."""


def closest_match(name: str, candidates: Iterable[str]) -> str | None:
    """Return the candidate most similar to ``name``, or None if none is close.

    >>> closest_match("pricee", ["price", "size"])
    'price'
    """
    names = list(candidates)
    lowered = {c.lower(): c for c in names}
    if name.lower() in lowered:
        return lowered[name.lower()]
    found = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return found[0] if found else None


def column_not_found(name: str, available: Iterable[str]) -> SchemaError:
    """Build the error for a reference to a column the input does not have.

    >>> print(column_not_found("Quantity", ["price", "quantity"]))
    column 'Quantity' not found. Did you mean 'quantity'? Available columns: price, quantity
    """
    names = list(available)
    hint = closest_match(name, names)
    suggestion = f" Did you mean '{hint}'?" if hint else ""
    listing = ", ".join(names) if names else "(none)"
    return SchemaError(f"column '{name}' not found.{suggestion} Available columns: {listing}")
