"""Test kinds for the whole run: tests under ``tests/integration``, ``tests/multihost`` and ``tests/browser`` (real
processes, brokers, databases, a browser) are marked ``slow``; any other test, doctests
included, may start no process, so ``pytest -m "not slow"`` starts none: a test that tries
gets an error telling it to mark itself ``slow`` or move to ``tests/integration``.

``make test`` runs the tests on two workers (``pytest -n 2``), a module's tests on one of them."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_SLOW_KINDS = {"integration", "browser", "multihost"}
_MULTIHOST = "tests/multihost/"
_TESTS = Path(__file__).parent / "tests"
_PROCESS_STARTS = ("subprocess.", "LocalCluster(", "tpch.tables(", "tpch.generate(")
_start_process = subprocess.Popen._execute_child  # type: ignore[attr-defined]
_fork = os.fork


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Under ``pytest -n 2``, a module's tests run on one worker, so its module-scoped
    fixtures are made once, and the multi-host tests all run on the same one: their virtual
    hosts share the machine's network namespaces (``tests/multihost/test_netns_cli.py``
    checks that none is left)."""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return _MULTIHOST if module.startswith(_MULTIHOST) else module

    return ModuleScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The multi-host tests first: the longest group of one worker's (see above), it then runs
    # while the other worker takes the rest, instead of alone at the end.
    items.sort(key=lambda item: not item.nodeid.startswith(_MULTIHOST))
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


@pytest.fixture(autouse=True)
def _doctest_temporary_files(request: pytest.FixtureRequest) -> None:
    """A doctest's temporary files (its examples call ``tempfile.mkdtemp()`` as a user's
    script would) go under pytest's own temporary directory, which keeps the last three
    runs', instead of staying in the system's for good."""
    if isinstance(request.node, pytest.DoctestItem):
        monkeypatch = request.getfixturevalue("monkeypatch")
        monkeypatch.setattr(tempfile, "tempdir", str(request.getfixturevalue("tmp_path")))
