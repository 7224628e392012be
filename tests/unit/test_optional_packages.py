"""Optional packages: without pandas, ``to_pandas()`` says which extra installs it (before
doing any work); the installed package's metadata offers the ``pandas`` and ``lab`` extras."""

from __future__ import annotations

import importlib.metadata
import re
import sys
from collections.abc import Iterator

import pytest

import sabot_lab as sl


def test_to_pandas_without_pandas_names_the_extra_and_reads_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pulled = []

    def numbers() -> Iterator[dict[str, int]]:
        pulled.append(1)
        yield {"x": 1}

    stream = sl.from_iterable(numbers, schema={"x": "int64"})
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if not installed: `import` raises
    with pytest.raises(ImportError) as caught:
        stream.to_pandas()
    assert isinstance(caught.value, sl.SabotError)
    assert str(caught.value) == (
        'to_pandas() needs pandas, which is not installed: pip install "sabot-lab[pandas]"'
    )
    assert pulled == []


def test_the_pandas_and_lab_extras_install_pandas_and_jupyterlab() -> None:
    metadata = importlib.metadata.metadata("sabot-lab")
    assert {"pandas", "lab"} <= set(metadata.get_all("Provides-Extra") or [])
    by_extra: dict[str, set[str]] = {}
    for requirement in metadata.get_all("Requires-Dist") or []:
        marker = re.search(r"extra == \"(\w+)\"", requirement)
        if marker:
            by_extra.setdefault(marker[1], set()).add(re.split(r"[<>=\[ ;]", requirement)[0])
    assert by_extra["pandas"] == {"pandas"}
    assert by_extra["lab"] == {"jupyterlab"}
