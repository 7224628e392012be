"""Test kinds for the whole run: tests under ``tests/integration``, ``tests/multihost`` and ``tests/browser`` (real
processes, brokers, databases, a browser) are marked ``slow``; any other test, doctests
included, may start no process, so ``pytest -m "not slow"`` starts none: a test that tries
gets an error telling it to mark itself ``slow`` or move to ``tests/integration``."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_SLOW_KINDS = {"integration", "browser", "multihost"}
_TESTS = Path(__file__).parent / "tests"
_PROCESS_STARTS = ("subprocess.", "LocalCluster(", "tpch.tables(", "tpch.generate(")
_start_process = subprocess.Popen._execute_child  # type: ignore[attr-defined]
_fork = os.fork


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _in_slow_kind(item) or _starts_processes(item):
            item.add_marker(pytest.mark.slow)


def _in_slow_kind(item: pytest.Item) -> bool:
    """Whether a test lives under one of the folders of process tests."""
    parts = Path(item.path).parts
    inside = _TESTS.parts == parts[: len(_TESTS.parts)] and len(parts) > len(_TESTS.parts)
    return inside and parts[len(_TESTS.parts)] in _SLOW_KINDS


def _starts_processes(item: pytest.Item) -> bool:
    """Whether a doctest's example starts a process (a cluster, or a subprocess of its own)."""
    if not isinstance(item, pytest.DoctestItem) or item.dtest is None:
        return False
    source = "".join(example.source for example in item.dtest.examples)
    return any(start in source for start in _PROCESS_STARTS)


def _refuse(what: str, item: pytest.Item) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            f"{item.nodeid} started a process ({what}) but is not marked slow: mark it "
            "@pytest.mark.slow or move it to tests/integration"
        )

    return refuse


@contextlib.contextmanager
def _no_process_unless_slow(item: pytest.Item) -> Iterator[None]:
    """Refuse to start a process while a test not marked slow sets up or runs (its teardown
    may stop what a slow test before it started: a session's database server, for one)."""
    guarded = item.get_closest_marker("slow") is None
    if guarded:
        subprocess.Popen._execute_child = _refuse("subprocess", item)  # type: ignore[attr-defined]
        os.fork = _refuse("fork", item)
    try:
        yield
    finally:
        subprocess.Popen._execute_child = _start_process  # type: ignore[attr-defined]
        os.fork = _fork


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _no_process_unless_slow(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _no_process_unless_slow(item):
        yield
