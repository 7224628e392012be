"""The display registry: how sabot-lab objects show beyond their plain text.

A :class:`~sabot_lab.stream.Stream`, a :class:`~sabot_lab.client.Job` or a
:class:`~sabot_lab.client.Cluster` describes itself in plain text (its ``repr``, which makes no
network call) and asks this registry for anything richer: HTML, a MIME bundle, a widget, a
progress display while ``collect()`` runs, the IPython extension. Plug-ins fill the registry in:
a plug-in is a function ``register(register)`` named by an entry point of the group
``sabot_lab.plugins`` (the notebook plug-in declares
``notebook = "sabot_lab.notebook.plugin:register"`` in ``pyproject.toml``); the plug-ins are
loaded on the first request, so ``import sabot_lab`` loads none of them. Nothing here knows a
plug-in by name.

A display is registered under a *kind*, ``"<object>.<facet>"``: ``stream.html``,
``stream.mimebundle``, ``stream.widget``, ``job.show`` (an object's ``_ipython_display_``),
``collect.progress``, ``cluster.progress``, ``ipython.extension``, ...

May import: :mod:`sabot_lab.errors` and the standard library.

>>> register("example.html", lambda obj: f"<b>{obj}</b>")
>>> render("example.html", 42)
'<b>42</b>'
>>> unregister("example.html")
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from sabot_lab.errors import SabotError

__all__ = [
    "PLUGIN_GROUP",
    "Bundle",
    "Displayed",
    "html",
    "load_plugins",
    "lookup",
    "mimebundle",
    "progress",
    "register",
    "render",
    "show",
    "unregister",
]

PLUGIN_GROUP = "sabot_lab.plugins"
"""The entry point group of display plug-ins."""

Bundle = tuple[dict[str, Any], dict[str, Any]]
"""A MIME bundle: display data by MIME type, and its metadata."""

_displays: dict[str, Callable[..., Any]] = {}
_plugins_loaded = False


def register(kind: str, display: Callable[..., Any]) -> None:
    """Show objects of ``kind`` with ``display`` (a later registration replaces an earlier).

    >>> register("example.text", str.upper)
    >>> render("example.text", "job")
    'JOB'
    >>> unregister("example.text")
    """
    _displays[kind] = display


def unregister(kind: str) -> None:
    """Forget the display of ``kind``, if any.

    >>> unregister("nothing.registered")
    >>> lookup("nothing.registered") is None
    True
    """
    _displays.pop(kind, None)


def load_plugins() -> None:
    """Load every plug-in of :data:`PLUGIN_GROUP` once (each registers its displays).

    >>> load_plugins(); load_plugins()  # the second call does nothing
    """
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points  # reads the installed metadata: slow

    for entry in entry_points(group=PLUGIN_GROUP):
        entry.load()(register)


def lookup(kind: str) -> Callable[..., Any] | None:
    """The display of ``kind``, the plug-ins loaded first; ``None`` if none shows it.

    >>> lookup("nothing.registered") is None
    True
    """
    load_plugins()
    return _displays.get(kind)


def render(kind: str, obj: Any, *args: Any, **kwargs: Any) -> Any:
    """``obj`` shown by the display of ``kind``; a :class:`~sabot_lab.errors.SabotError`
    saying what to install when no plug-in shows it.

    >>> render("nothing.registered", 1)
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SabotError: no display plug-in shows 'nothing.registered': ...
    """
    display = lookup(kind)
    if display is None:
        raise SabotError(
            f"no display plug-in shows {kind!r}: install sabot-lab with its notebook "
            f"plug-in (pip install sabot-lab), which registers it under the entry point "
            f"group {PLUGIN_GROUP!r}"
        )
    return display(obj, *args, **kwargs)


def html(kind: str, obj: Any) -> str | None:
    """``obj`` as HTML (the display ``<kind>.html``), or ``None`` without one (then a notebook
    shows the text).

    >>> html("nothing", 1) is None
    True
    """
    display = lookup(f"{kind}.html")
    return None if display is None else str(display(obj))


def mimebundle(kind: str, obj: Any) -> Bundle:
    """``obj``'s display data (the display ``<kind>.mimebundle``), else its text.

    >>> mimebundle("nothing", 1)
    ({'text/plain': '1'}, {})
    """
    display = lookup(f"{kind}.mimebundle")
    if display is None:
        return {"text/plain": repr(obj)}, {}
    data, metadata = display(obj)
    return data, metadata


def show(kind: str, obj: Any) -> None:
    """Display ``obj`` in IPython (its ``_ipython_display_``): the display ``<kind>.show``,
    else its :func:`mimebundle`.
    """
    display = lookup(f"{kind}.show")
    if display is not None:
        display(obj)
        return
    from IPython.display import display as ipython_display  # only ever called by IPython

    data, metadata = mimebundle(kind, obj)
    ipython_display(data, metadata=metadata, raw=True)


@contextlib.contextmanager
def progress(kind: str, *args: Any) -> Iterator[Any]:
    """The progress display ``<kind>.progress`` while a context runs, else nothing (yields
    ``None``): ``collect`` (a ``collect()``; yields the executor's scan observer),
    ``cluster`` (a ``LocalCluster`` starting; yields a function taking a status line) or
    ``wait`` (a blocking wait on a job; yields a function to call between its slices, given
    whether the wait is over).

    >>> shown = lookup("collect.progress")
    >>> register("collect.progress", lambda plan: contextlib.nullcontext(f"observing {plan}"))
    >>> with progress("collect", "a plan") as on_scan:
    ...     on_scan
    'observing a plan'
    >>> register("collect.progress", shown) if shown else unregister("collect.progress")
    """
    display = lookup(f"{kind}.progress")
    if display is None:
        yield None
        return
    with display(*args) as observer:
        yield observer


class Displayed:
    """A base of objects with a live view (a job, a cluster): their notebook hooks ask the
    registry for the displays of :attr:`display_kind`.

    >>> class Thing(Displayed):
    ...     display_kind = "example.thing"
    >>> Thing()._repr_html_() is None  # no plug-in shows it
    True
    """

    display_kind = "object"

    def widget(self) -> Any:
        """A live view of this object in a notebook (the display ``<kind>.widget``)."""
        return render(f"{self.display_kind}.widget", self)

    def _repr_html_(self) -> str | None:
        return html(self.display_kind, self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Bundle:
        return mimebundle(self.display_kind, self)

    def _ipython_display_(self) -> None:
        show(self.display_kind, self)
