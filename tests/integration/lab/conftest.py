"""Fixtures of the JupyterLab server extension's tests: a private registry of local clusters
(for this process and the server alike), a real ``jupyter server`` with the extension
enabled by the file the wheel installs, and a two-agent cluster registered there."""

from collections.abc import Iterator
from pathlib import Path

import pytest

import sabot_lab as sl
from tests.support.jupyter_server import JupyterServer, jupyter_server


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private registry of local clusters, for this process and the server alike."""
    runtime = tmp_path_factory.mktemp("runtime")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_RUNTIME_DIR", str(runtime))
        yield runtime


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, registry: Path) -> Iterator[JupyterServer]:
    """``jupyter server`` with the extension enabled by the wheel's file, nothing else."""
    with jupyter_server(tmp_path_factory.mktemp("jupyter")) as (running, _):
        yield running


@pytest.fixture(scope="module")
def cluster(registry: Path) -> Iterator[sl.LocalCluster]:
    """Two agents of one slot, registered in :func:`registry` (so the server lists them)."""
    with sl.LocalCluster(agents=2, slots=1) as cluster:
        yield cluster
