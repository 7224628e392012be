"""A progress bar for :meth:`~sabot_lab.Stream.collect`: rows read from the plan's sources out
of the rows they hold.

The engine tells a :class:`CollectProgress` of every batch a source yields and of each
source's end (:data:`~sabot_lab.engine.executor.ScanObserver`). The total is the sum of the
sources' row counts (Parquet footers, Arrow lengths, DuckDB's planner, a pushed-down limit);
a source whose count is not known (an iterable) leaves the total unknown, and the bar then
counts rows. A source that ended counts as read whole, also when a filter pushed into it
skipped rows, so a finished collect shows ``done == total``.

The bar shows only once the collect has run :attr:`~sabot_lab.config.Config.progress_delay`
seconds (quick ones show nothing), is redrawn at most every
:data:`~sabot_lab.notebook.frontend.UPDATE_INTERVAL` seconds from the thread running the collect,
and is drawn in place: an HTML ``<progress>`` in a notebook output (which keeps its final
state when the notebook is saved), or one line rewritten with ``\\r`` on stderr when stderr
is a terminal. ``Config.progress`` (``SABOT_PROGRESS=0``) turns it off.

>>> import io
>>> out = io.StringIO()
>>> progress = CollectProgress({"src": 1000}, TerminalLine(out), delay=0.0, interval=0.0)
>>> progress.on_scan("src", 400, False)
>>> progress.on_scan("src", 600, False); progress.on_scan("src", 0, True)
>>> progress.close()
>>> progress.state().done, progress.state().total
(1000, 1000)
>>> out.getvalue().split("\\r")[-1].split("  ")[:2]
['collect 100%', '1,000/1,000 rows']
"""

from __future__ import annotations

import contextlib
import html
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, Protocol

from sabot_lab.config import Config
from sabot_lab.engine.executor import ScanObserver
from sabot_lab.logical import JobGraph, OperatorType
from sabot_lab.notebook.frontend import UPDATE_INTERVAL, in_kernel, static_style

__all__ = [
    "CollectProgress",
    "NotebookBar",
    "NotebookOutput",
    "ProgressDisplay",
    "ProgressState",
    "StatusLine",
    "TerminalLine",
    "collect_progress",
    "progress_display",
    "source_totals",
    "status_output",
]

BAR_WIDTH = 24
"""Characters of the terminal bar."""


@dataclass(frozen=True)
class ProgressState:
    """Rows read so far, out of ``total`` (None: not known), after ``elapsed`` seconds.

    >>> print(ProgressState(250, 1000, 2.0, False).text())
    collect  25%  250/1,000 rows  2.0 s  ██████··················
    >>> print(ProgressState(250, None, 2.0, True).text())
    collect  250 rows  2.0 s  done
    """

    done: int
    total: int | None
    elapsed: float
    finished: bool

    @property
    def fraction(self) -> float | None:
        """``done / total``, or None when the total is not known."""
        if self.total is None:
            return None
        return 1.0 if self.total == 0 else min(1.0, self.done / self.total)

    def text(self) -> str:
        """One line: percentage, rows, seconds and a bar of block characters."""
        fraction = self.fraction
        if fraction is None:
            tail = "done" if self.finished else "…"
            return f"collect  {self.done:,} rows  {self.elapsed:.1f} s  {tail}"
        filled = round(fraction * BAR_WIDTH)
        bar = "█" * filled + "·" * (BAR_WIDTH - filled)
        return (
            f"collect {fraction:4.0%}  {self.done:,}/{self.total:,} rows  "
            f"{self.elapsed:.1f} s  {bar}"
        )

    def html(self) -> str:
        """An HTML ``<progress>`` (``.sabot-progress``) with the same figures.

        >>> 'value="250" max="1000"' in ProgressState(250, 1000, 2.0, False).html()
        True
        """
        fraction = self.fraction
        value = f' value="{self.done}" max="{self.total}"' if fraction is not None else ""
        figures = html.escape(
            self.text().rsplit("  ", 1)[0] if fraction is not None else self.text()
        )
        return (
            f"<style>{static_style()}</style><div class='sabot-widget sabot-progress' "
            f"data-done='{self.done}' data-total='{self.total if self.total is not None else ''}'>"
            f"<progress{value}></progress><span>{figures}</span></div>"
        )


class ProgressDisplay(Protocol):
    """Where a progress bar is drawn; ``show`` is called again with newer states."""

    def show(self, state: ProgressState) -> None: ...


class StatusLine:
    """One line of ``stream`` rewritten in place (``\\r``), ended with a newline once final.

    >>> import io
    >>> out = io.StringIO()
    >>> line = StatusLine(out)
    >>> line.show("starting"); line.show("ready", final=True)
    >>> out.getvalue().split("\\r")[-1]
    'ready   \\n'
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._width = 0

    def show(self, text: str, final: bool = False) -> None:
        """Rewrite the line with ``text``."""
        self.stream.write("\r" + text.ljust(self._width) + ("\n" if final else ""))
        self.stream.flush()
        self._width = len(text)


class NotebookOutput:
    """An output of the running notebook cell, replaced in place (through its display id)."""

    def __init__(self) -> None:
        self._handle: Any = None

    def show(self, bundle: dict[str, str]) -> None:
        """Show the MIME ``bundle``: the first time as a new output, then in that output."""
        from IPython.display import display

        if self._handle is None:
            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)


def status_output() -> StatusLine | NotebookOutput | None:
    """Where this process can show a status: a notebook output, a line of stderr when it is a
    terminal, else nowhere (None).

    >>> status_output() is None or isinstance(status_output(), StatusLine)  # no kernel
    True
    """
    if in_kernel():
        return NotebookOutput()
    if sys.stderr is not None and sys.stderr.isatty():
        return StatusLine(sys.stderr)
    return None


class TerminalLine:
    """Draws the bar as a :class:`StatusLine` of ``stream``, ended once finished.

    >>> import io
    >>> out = io.StringIO()
    >>> line = TerminalLine(out)
    >>> line.show(ProgressState(1, 2, 0.5, False)); line.show(ProgressState(2, 2, 1.0, True))
    >>> out.getvalue().count("\\r"), out.getvalue().endswith("\\n")
    (2, True)
    """

    def __init__(self, stream: IO[str]) -> None:
        self.line = StatusLine(stream)

    def show(self, state: ProgressState) -> None:
        """Rewrite the line with ``state``."""
        self.line.show(state.text(), final=state.finished)


class NotebookBar:
    """Draws the bar as an HTML output of the running notebook cell, updated in place."""

    def __init__(self, output: NotebookOutput | None = None) -> None:
        self.output = output or NotebookOutput()

    def show(self, state: ProgressState) -> None:
        """Show ``state`` in the cell's output."""
        self.output.show({"text/html": state.html(), "text/plain": state.text()})


def progress_display() -> ProgressDisplay | None:
    """Where this process can draw a progress bar (see :func:`status_output`).

    >>> progress_display() is None or isinstance(progress_display(), TerminalLine)  # no kernel
    True
    """
    output = status_output()
    if isinstance(output, NotebookOutput):
        return NotebookBar(output)
    return None if output is None else TerminalLine(output.stream)


def source_totals(graph: JobGraph, output: str) -> dict[str, int | None]:
    """The rows each source operator of ``output``'s plan holds (at most its pushed-down
    limit), or None where not known.

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"x": list(range(10))}).head(3)
    >>> plan = s.optimize()
    >>> list(source_totals(plan.graph, plan.output).values())
    [3]
    """
    totals: dict[str, int | None] = {}
    for node in graph.subgraph(output):
        if node.operator_type != OperatorType.SOURCE:
            continue
        rows = node.parameters["source"].estimated_rows()
        limit = node.parameters.get("limit")
        if rows is not None and limit is not None:
            rows = min(rows, limit)
        totals[node.operator_id] = None if rows is None else int(rows)
    return totals


class CollectProgress:
    """Counts the rows the sources of a collect yield (:meth:`on_scan` is its
    :data:`~sabot_lab.engine.executor.ScanObserver`) and draws them on ``display`` once
    ``delay`` seconds passed, at most every ``interval`` seconds, from the thread that made it
    (see the module docstring for an example)."""

    def __init__(
        self,
        totals: dict[str, int | None],
        display: ProgressDisplay,
        delay: float,
        interval: float = UPDATE_INTERVAL,
    ) -> None:
        self.totals = totals
        self.display = display
        self.delay = delay
        self.interval = interval
        self._rows = dict.fromkeys(totals, 0)
        self._ended: set[str] = set()
        self._lock = threading.Lock()
        self._owner = threading.get_ident()
        self._started = time.monotonic()
        self._drawn: float | None = None  # when it was last drawn

    def state(self, finished: bool = False) -> ProgressState:
        """The rows read so far (each source that ended: its total)."""
        done = 0
        with self._lock:
            for source, rows in self._rows.items():
                total = self.totals[source]
                if total is None:
                    done += rows
                else:
                    done += total if source in self._ended else min(rows, total)
        known = None if None in self.totals.values() else sum(t or 0 for t in self.totals.values())
        return ProgressState(done, known, time.monotonic() - self._started, finished)

    def on_scan(self, operator_id: str, rows: int, ended: bool) -> None:
        """Count ``rows`` read by source ``operator_id`` (``ended``: it has no more), and
        redraw when it is time."""
        with self._lock:
            self._rows[operator_id] = self._rows.get(operator_id, 0) + rows
            self.totals.setdefault(operator_id, None)
            if ended:
                self._ended.add(operator_id)
        now = time.monotonic()
        due = now - self._started >= self.delay and (
            self._drawn is None or now - self._drawn >= self.interval
        )
        if due and threading.get_ident() == self._owner:
            self._drawn = now
            self.display.show(self.state())

    def close(self) -> None:
        """Draw the final state, if the bar was shown."""
        if self._drawn is not None:
            self.display.show(self.state(finished=True))


@contextlib.contextmanager
def collect_progress(
    graph: JobGraph, output: str, config: Config, display: ProgressDisplay | None = None
) -> Iterator[ScanObserver | None]:
    """The scan observer of a collect of ``output`` (None when ``config.notebook.progress`` is off or
    there is nowhere to draw), drawing on ``display`` (default: :func:`progress_display`)
    and drawing the final state when the block ends.

    >>> import io, sabot_lab as sl
    >>> from sabot_lab.engine import Executor
    >>> s = sl.from_pydict({"x": list(range(5))})
    >>> out = io.StringIO()
    >>> with collect_progress(s.graph, s.node_id, Config(progress_delay=0.0), TerminalLine(out)) as seen:
    ...     rows = sum(b.num_rows for b in Executor(s.graph, on_scan=seen).run(s.node_id))
    >>> rows, out.getvalue().rstrip().split("\\r")[-1].split("  ")[:2]
    (5, ['collect 100%', '5/5 rows'])
    """
    display = display if display is not None else progress_display()
    if not config.notebook.progress or display is None:
        yield None
        return
    progress = CollectProgress(
        source_totals(graph, output), display, config.notebook.progress_delay
    )
    try:
        yield progress.on_scan
    finally:
        progress.close()
