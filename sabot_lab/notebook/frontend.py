"""What the notebook views share about the front end: whether this runs in a Jupyter kernel
(where widgets can show) and whether a batch run drives it, the widgets' static
files, and how often live views update.

Light on purpose (no widget library, IPython only if already loaded): ``collect()``'s progress
display imports it in scripts too.

May import: the standard library.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

__all__ = ["STATIC", "UPDATE_INTERVAL", "batch_run", "in_kernel", "static_style"]

STATIC = Path(__file__).parent / "static"
"""The widgets' ESM and CSS files, shipped with the package."""

UPDATE_INTERVAL = 0.25
"""Seconds between two readings of a live view (a job's, a plan's, a collect's progress)."""


def in_kernel() -> bool:
    """Whether this runs in a Jupyter kernel (where widgets can show).

    >>> in_kernel()
    False
    """
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def batch_run() -> bool:
    """Whether this runs in a Jupyter kernel driven by a batch run (``nbconvert --execute``,
    papermill: nbclient), not by a front end that shows widgets (JupyterLab, Notebook, VS
    Code). A batch run asks for no input, and its outputs are read without the widgets' code
    (an exported HTML page, offline): there a widget's output is its static HTML and snapshot.

    >>> batch_run()
    False
    """
    if not in_kernel():
        return False
    from IPython import get_ipython

    parent = get_ipython().kernel.get_parent("shell")
    return (parent or {}).get("content", {}).get("allow_stdin") is False


@cache
def static_style() -> str:
    """The widgets' stylesheet (``static/widgets.css``), for static HTML.

    >>> ".sabot-widget" in static_style()
    True
    """
    return (STATIC / "widgets.css").read_text()
