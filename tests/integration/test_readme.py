"""Every ```python block of the README runs as written: each on its own, in a fresh namespace
and an empty working directory (which holds the temporary directories it makes too), with sabot-lab's deprecation warnings as errors (a sample
must show the current spelling); a ```text block right after one is what it prints (but
for the numbers in operator ids, which count the operators a process has made)."""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

README = Path(__file__).parents[2] / "README.md"


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence
    code: str
    output: str | None  # the ```text block right after it: what it prints


def python_blocks(text: str) -> list[Block]:
    """The README's ```python blocks, with the line each starts on and what each prints."""
    fence = r"^```python\n(.*?)^```\n(?:\n*```text\n(.*?)^```$)?"
    return [
        Block(text.count("\n", 0, match.start()) + 1, match[1], match[2])
        for match in re.finditer(fence, text, re.MULTILINE | re.DOTALL)
    ]


BLOCKS = python_blocks(README.read_text())


def test_the_readme_has_samples_for_every_part_of_the_api() -> None:
    assert len(BLOCKS) >= 5
    assert any(block.output for block in BLOCKS)
    assert all("import sabot_lab as sl" in block.code for block in BLOCKS)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"README.md:{b.line}" for b in BLOCKS])
def test_a_readme_sample_runs_as_written(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # (a sample's mkdtemp: in here)
    code = compile(block.code, f"README.md:{block.line}", "exec")
    printed = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(printed):
        warnings.filterwarnings("error", category=DeprecationWarning, message=".*sabot")
        warnings.filterwarnings("error", category=DeprecationWarning, module="sabot_lab")
        exec(code, {"__name__": "__readme__"})
    if block.output is not None:
        assert without_id_numbers(printed.getvalue()) == without_id_numbers(block.output)


def without_id_numbers(text: str) -> str:
    """``text`` with the numbers of operator ids (``filter_7``, ``source_12``) blanked.

    >>> without_id_numbers("filter_7 -> filter_source_1_hash_join_12, ~5K rows")
    'filter_# -> filter_source_#_hash_join_#, ~5K rows'
    """
    return re.sub(r"(?<=[a-z])_\d+", "_#", text)
