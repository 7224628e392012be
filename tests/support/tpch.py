"""TPC-H Parquet files exactly as ``tpchgen-cli`` (the PyPI package) writes them: ``string_view``
strings, ``decimal128(15, 2)`` money, ``date32`` dates, non-null fields with ``PARQUET:field_id``
metadata. Generated once per session into a temporary directory, never committed.

Tests use the ``tpch_dir`` fixture of ``tests/conftest.py``, which calls :func:`generate`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["TABLES", "generate"]

TABLES = ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier")


def _cli() -> str:
    beside_python = Path(sys.executable).with_name("tpchgen-cli")
    found = str(beside_python) if beside_python.exists() else shutil.which("tpchgen-cli")
    if found is None:  # (it is in the test extra: `make test` installs it)
        raise RuntimeError("tpchgen-cli is not installed; pip install -e '.[test]'")
    return found


def generate(directory: Path, scale: float = 0.01, tables: tuple[str, ...] = TABLES) -> Path:
    """Write the TPC-H ``tables`` at ``scale`` as ``directory/<table>.parquet``."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            _cli(),
            "parquet",
            "-s",
            str(scale),
            f"--output-dir={directory}",
            "--tables",
            ",".join(tables),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return directory
