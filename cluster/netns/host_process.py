"""A process started in a virtual host (see :mod:`cluster.netns.virtual_hosts`): the lines it
prints, read as they come, its standard error in a file, waiting for a line, stopping it.

May import the standard library only.
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["HostProcess"]


@dataclass
class HostProcess:
    """A process started in a host: its ``popen``, the lines it printed (:attr:`lines`, read
    by a thread as they come) and the file its standard error goes to (:attr:`log`)."""

    host: str
    popen: subprocess.Popen[str]
    log: Path
    lines: list[str] = field(default_factory=list)
    _news: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, name=f"{self.host}-stdout", daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with self._news:
                self.lines.append(line.rstrip("\n"))
                self._news.notify_all()
        with self._news:
            self._news.notify_all()

    def wait_for_line(self, start: str, timeout: float = 60.0) -> str:
        """The first line printed that starts with ``start``, waiting up to ``timeout``
        seconds; raises :class:`TimeoutError` (with the end of its log) if none came, or
        :class:`RuntimeError` if the process ended first."""
        deadline = time.monotonic() + timeout
        with self._news:
            while True:
                found = next((line for line in self.lines if line.startswith(start)), None)
                if found is not None:
                    return found
                if self.popen.poll() is not None:
                    raise RuntimeError(
                        f"{self.host}: {self.popen.args!r} exited {self.popen.returncode} "
                        f"before printing {start!r}:\n{self.log_tail()}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{self.host}: no line {start!r} within {timeout:g} s:\n{self.log_tail()}"
                    )
                self._news.wait(min(left, 0.5))

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of its standard error."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 30.0) -> int:
        """Stop it (SIGTERM, then SIGKILL after ``timeout`` seconds); its exit code."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        return self.popen.wait()
