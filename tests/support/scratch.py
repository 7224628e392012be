"""A directory for a test module's files made at import (Hypothesis strategies draw their
files there, outside any fixture), removed when the test process exits."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path


def scratch_directory(prefix: str) -> Path:
    """A new temporary directory named ``prefix…``, removed at the process's exit.

    >>> path = scratch_directory("sabot-example-")
    >>> path.is_dir(), path.name.startswith("sabot-example-")
    (True, True)
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path
