"""Type checkers see the installed package: mypy, run on a user's script outside the checkout,
finds sabot-lab's own annotations (``py.typed``) and catches a wrong type and a wrong choice
among closed options (``Literal``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = """
import pyarrow as pa

import sabot_lab as sl

quotes = sl.from_pydict({"sym": ["a", "b"], "px": [1.0, 2.0]})
names: list[str] = quotes.columns
table: pa.Table = quotes.group_by("sym").agg(sl.col("px").sum()).collect()
"""

MISTAKES = """
wrong: str = quotes.columns
joined = quotes.join(quotes, on="sym", how="innr")
"""

CONFIG = """
[mypy]
strict = True

[mypy-pyarrow.*]
ignore_missing_imports = True
"""


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mypy's cache, shared by the module's runs: the second run reads sabot-lab's checked
    modules from it and checks only the user's script again."""
    return tmp_path_factory.mktemp("mypy-cache")


def mypy(folder: Path, script: str, cache: Path) -> subprocess.CompletedProcess[str]:
    """mypy on ``script``, run in ``folder`` (outside the checkout: sabot-lab is found as
    installed), with its cache in ``cache``."""
    (folder / "user.py").write_text(script)
    (folder / "mypy.ini").write_text(CONFIG)
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(cache), "user.py"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_mypy_checks_a_users_script_against_the_installed_package(
    tmp_path: Path, cache: Path
) -> None:
    run = mypy(tmp_path, SCRIPT, cache)
    assert run.returncode == 0, run.stdout
    assert "Success: no issues found" in run.stdout


def test_mypy_catches_a_wrong_type_and_an_unknown_choice(tmp_path: Path, cache: Path) -> None:
    run = mypy(tmp_path, SCRIPT + MISTAKES, cache)
    assert run.returncode == 1
    errors = [line for line in run.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 2, run.stdout
    assert 'expression has type "list[str]", variable has type "str"' in errors[0]
    assert 'Argument "how" to "join"' in errors[1] and "'innr'" in errors[1]
