"""What a :class:`~sabot_lab.client.LocalCluster` shows while it starts (the display
``cluster.progress``): one status line naming what is up, redrawn in place as its processes
come up, and kept once it is ready. In a notebook it is a cell output (updated through its
display id); on a terminal, one line of stderr rewritten with ``\\r``; elsewhere nothing.

>>> import io
>>> out = io.StringIO()
>>> line = StatusLine(out)
>>> line.show("starting"); line.show("ready", final=True)
>>> out.getvalue().split("\\r")[-1]
'ready   \\n'
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import IO, Any

from sabot_lab.notebook.frontend import in_kernel

__all__ = ["NotebookLine", "StatusLine", "startup_progress"]


class StatusLine:
    """A status line of ``stream``, rewritten in place; a newline once final."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._width = 0

    def show(self, text: str, final: bool = False) -> None:
        """Rewrite the line with ``text``."""
        self.stream.write("\r" + text.ljust(self._width) + ("\n" if final else ""))
        self.stream.flush()
        self._width = len(text)


class NotebookLine:
    """A status line as a plain-text output of the running cell, updated in place."""

    def __init__(self) -> None:
        self._handle: Any = None

    def show(self, text: str, final: bool = False) -> None:
        """Show ``text``: the first time as a new output, then in that output."""
        from IPython.display import display

        bundle = {"text/plain": text}
        if self._handle is None:
            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)


@contextlib.contextmanager
def startup_progress() -> Iterator[Callable[[str], None] | None]:
    """A function showing a status line while a cluster starts (the last one stays), or None
    where nothing can show it.

    >>> with startup_progress() as step:  # no kernel, no terminal here
    ...     step is None or callable(step)
    True
    """
    line: StatusLine | NotebookLine | None = None
    if in_kernel():
        line = NotebookLine()
    elif sys.stderr is not None and sys.stderr.isatty():
        line = StatusLine(sys.stderr)
    if line is None:
        yield None
        return
    shown: list[str] = []

    def step(text: str) -> None:
        shown.append(text)
        line.show(text)

    try:
        yield step
    finally:
        if shown:
            line.show(shown[-1], final=True)
