"""The display registry (sabot_lab/display.py) and the notebook plug-in it finds through the
``sabot_lab.plugins`` entry point."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import sabot_lab as sl
from sabot_lab import display
from sabot_lab.client import Cluster
from sabot_lab.errors import SabotError


@pytest.fixture
def no_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A registry with nothing registered and no plug-in to load."""
    monkeypatch.setattr(display, "_displays", {})
    monkeypatch.setattr(display, "_plugins_loaded", True)
    yield


def test_the_notebook_plug_in_is_declared_and_installed_as_an_entry_point() -> None:
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    section = f'[project.entry-points."{display.PLUGIN_GROUP}"]\nnotebook = "sabot_lab.notebook:register"\n'
    assert section in pyproject
    installed = {e.name: e.value for e in entry_points(group=display.PLUGIN_GROUP)}
    assert installed == {"notebook": "sabot_lab.notebook:register"}  # else: make install-test


def test_a_stream_shows_its_plan_through_the_plug_in_with_no_extra_step() -> None:
    stream = sl.from_pydict({"x": [1]})
    data, _ = stream._repr_mimebundle_()
    assert set(data) == {"text/plain", "text/html"}
    assert 'class="sabot-node"' in str(stream._repr_html_())
    assert stream.show_plan().views["optimized"]["nodes"]


@pytest.mark.usefixtures("no_plugins")
def test_without_a_plug_in_objects_show_their_text() -> None:
    stream = sl.from_pydict({"x": [1]})
    assert stream._repr_mimebundle_() == ({"text/plain": repr(stream)}, {})
    assert stream._repr_html_() is None
    with pytest.raises(SabotError, match=r"no display plug-in shows 'stream\.widget'"):
        stream.show_plan()
    assert stream.collect().num_rows == 1  # no progress display: none to draw it


@pytest.mark.usefixtures("no_plugins")
def test_a_registered_display_is_used_until_unregistered() -> None:
    display.register("stream.html", lambda s: f"<p>{s.columns}</p>")
    stream = sl.from_pydict({"x": [1]})
    assert stream._repr_html_() == "<p>['x']</p>"
    display.unregister("stream.html")
    assert stream._repr_html_() is None


def test_a_job_and_a_cluster_repr_without_a_jobmanager() -> None:
    cluster = Cluster("grpc://127.0.0.1:1")  # nothing listens there
    job = sl.Job(cluster, "j1")
    assert repr(cluster) == "<Cluster grpc://127.0.0.1:1>"
    assert repr(job) == "<Job j1 on grpc://127.0.0.1:1>"
