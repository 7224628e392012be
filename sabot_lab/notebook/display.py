"""How sabot-lab objects with a live view show in notebooks.

In a Jupyter kernel, a :class:`~sabot_lab.client.Job` or a cluster displays as its widget,
and the output also carries the widget's static HTML and text, and its snapshot
(:mod:`sabot_lab.notebook.snapshot`): a notebook saved and opened without a kernel shows the
snapshot in JupyterLab, the static HTML on GitHub and nbviewer. A batch run
(``nbconvert --execute``, see :func:`~sabot_lab.notebook.frontend.batch_run`) gets no widget
view, so its exported HTML shows the static HTML. A :class:`LiveWidget` puts its static HTML
in each output it was displayed in again when what it shows comes to rest (a job ended), so
the saved notebook shows the final state. Outside a kernel the objects show their static
HTML and text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, Protocol

import anywidget

from sabot_lab.notebook.frontend import batch_run, in_kernel
from sabot_lab.notebook.snapshot import snapshot

__all__ = ["LiveWidget", "Viewable", "mimebundle", "show"]

Bundle = tuple[dict[str, Any], dict[str, Any]]


class LiveWidget(anywidget.AnyWidget):
    """A widget that follows something on the kernel's event loop and has a static rendering
    (:meth:`static_html`, :meth:`static_text`) of what it shows.

    Subclasses name their snapshot's MIME type (:attr:`snapshot_mime`), start their updater
    (an :class:`asyncio.Task`) with :meth:`keep`, and call :meth:`refresh_outputs` when what
    they show comes to rest. ``close()`` stops the tasks.
    """

    snapshot_mime: ClassVar[str]
    """The MIME type of the widget's snapshot (:mod:`sabot_lab.notebook.snapshot`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._outputs: list[Any] = []  # IPython display handles of the outputs showing it
        self._tasks: set[asyncio.Task[Any]] = set()

    def static_html(self) -> str:
        """What the widget shows, as HTML."""
        raise NotImplementedError

    def static_text(self) -> str:
        """What the widget shows, as text."""
        raise NotImplementedError

    def snapshot_state(self) -> dict[str, Any]:
        """What the widget shows, as the plain JSON of its synced state: its snapshot."""
        raise NotImplementedError

    @property
    def loop_tasks(self) -> set[asyncio.Task[Any]]:
        """The widget's tasks still running on the event loop (its updater, a cancel or a
        scale in progress)."""
        return {t for t in self._tasks if not t.done()}

    def keep(self, task: asyncio.Task[Any] | Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Keep a reference to ``task`` (a coroutine is started on the running loop) until
        it is done, so it is neither garbage-collected nor left running after ``close()``."""
        if not isinstance(task, asyncio.Task):
            task = asyncio.get_running_loop().create_task(task)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def close(self) -> None:
        """Stop the widget's tasks and close it."""
        for task in self._tasks:
            task.cancel()
        super().close()

    def _repr_mimebundle_(self, **kwargs: Any) -> Bundle:
        static = {
            **snapshot(self.snapshot_mime, self.snapshot_state()),
            "text/plain": self.static_text(),
            "text/html": self.static_html(),
        }
        if batch_run():
            return static, {}
        data, metadata = super()._repr_mimebundle_(**kwargs) or ({}, {})
        return {**data, **static}, metadata

    def _ipython_display_(self) -> None:
        from IPython.display import display

        data, metadata = self._repr_mimebundle_()
        self._outputs.append(display(data, metadata=metadata, raw=True, display_id=True))

    def refresh_outputs(self) -> None:
        """Show the static rendering as it is now in every output the widget is shown in."""
        data, metadata = self._repr_mimebundle_()
        for handle in self._outputs:
            handle.update(data, metadata=metadata, raw=True)


class Viewable(Protocol):
    """An object with a live widget (a job, a cluster)."""

    def widget(self) -> LiveWidget: ...


def mimebundle(obj: Viewable, static: Callable[[], Bundle]) -> Bundle:
    """``obj``'s display data: in a kernel its widget's (with the static HTML and text),
    else ``static()``, the static HTML and text.

    >>> mimebundle(None, lambda: ({"text/plain": "a job"}, {}))  # type: ignore[arg-type]
    ({'text/plain': 'a job'}, {})
    """
    if in_kernel():
        return obj.widget()._repr_mimebundle_()
    return static()


def show(obj: Viewable, static: Callable[[], Bundle]) -> None:
    """Display ``obj`` in a notebook (its ``_ipython_display_``): in a kernel as its widget,
    whose outputs get the final static HTML when it comes to rest; else ``static()``."""
    from IPython.display import display

    if in_kernel():
        obj.widget()._ipython_display_()
    else:
        data, metadata = static()
        display(data, metadata=metadata, raw=True)
