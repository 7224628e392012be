"""The optional packages some methods use, and the extra of ``sabot-lab`` that installs each.

A method that needs one calls :func:`require` before any work, so a missing package is one
clear error naming the ``pip install`` that fixes it, not a ``ModuleNotFoundError`` from deep
inside. This module imports nothing of sabot-lab but :mod:`sabot_lab.errors`.

>>> require("json", "a doctest").__name__
'json'
"""

from __future__ import annotations

import importlib
from types import ModuleType

from sabot_lab.errors import SabotError

__all__ = ["EXTRAS", "MissingPackageError", "require"]

EXTRAS = {"pandas": "pandas", "jupyterlab": "lab"}
"""The extra of ``sabot-lab`` that installs each optional package (``pip install
"sabot-lab[pandas]"``; ``[lab]`` brings JupyterLab)."""


class MissingPackageError(SabotError, ImportError):
    """An optional package a method needs is not installed (an :class:`ImportError` too)."""


def require(package: str, needed_by: str) -> ModuleType:
    """The module ``package``, imported; raise :class:`MissingPackageError` naming
    ``needed_by`` and the ``pip install`` of its extra when it is not installed.

    >>> require("no_such_package_here", "the doctest")
    Traceback (most recent call last):
    ...
    sabot_lab.extras.MissingPackageError: the doctest needs no_such_package_here, which is not installed: pip install no_such_package_here
    """
    try:
        return importlib.import_module(package)
    except ImportError:
        extra = EXTRAS.get(package)
        fix = f'pip install "sabot-lab[{extra}]"' if extra else f"pip install {package}"
        raise MissingPackageError(
            f"{needed_by} needs {package}, which is not installed: {fix}"
        ) from None
