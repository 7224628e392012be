"""What the notebook views share about the front end: whether this runs in a Jupyter kernel
(where widgets can show), the widgets' static files, and how often live views update.

Light on purpose (no widget library, IPython only if already loaded): ``collect()``'s progress
display imports it in scripts too.

May import: the standard library.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

__all__ = ["STATIC", "UPDATE_INTERVAL", "in_kernel", "static_style"]

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


@cache
def static_style() -> str:
    """The widgets' stylesheet (``static/widgets.css``), for static HTML.

    >>> ".sabot-widget" in static_style()
    True
    """
    return (STATIC / "widgets.css").read_text()
