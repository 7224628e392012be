"""What a :class:`~sabot_lab.client.LocalCluster` shows while it starts (the display
``cluster.progress``): one status line naming what is up, redrawn in place as its processes
come up, and kept once it is ready; shown where :func:`~sabot_lab.notebook.progress.status_output`
says (a notebook cell's output, a terminal's stderr line), elsewhere nowhere.

>>> with startup_progress() as step:  # no kernel, no terminal here
...     step is None or callable(step)
True
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from sabot_lab.notebook.progress import NotebookOutput, status_output

__all__ = ["startup_progress"]


@contextlib.contextmanager
def startup_progress() -> Iterator[Callable[[str], None] | None]:
    """A function showing a status line while a cluster starts (the last one stays), or None
    where nothing can show it."""
    output = status_output()
    if output is None:
        yield None
        return

    def show(text: str, final: bool = False) -> None:
        if isinstance(output, NotebookOutput):
            output.show({"text/plain": text})
        else:
            output.show(text, final)

    shown: list[str] = []

    def step(text: str) -> None:
        shown.append(text)
        show(text)

    try:
        yield step
    finally:
        if shown:
            show(shown[-1], final=True)
