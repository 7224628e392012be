"""Agents' resource reports: what a heartbeat carries, how resource-aware placement uses it,
and how the cluster view shows an overloaded agent."""

from __future__ import annotations

import os

import psutil
import pytest

from sabot_lab.errors import ClusterError
from sabot_lab.notebook.cluster_view import cluster_html, cluster_text, cluster_view
from sabot_lab.observability.resources import ResourceSampler
from sabot_lab.runtime.jobmanager.placement import assign
from sabot_lab.runtime.protocol import Heartbeat


def agent(uri: str, slots: int = 2, running: int = 0, **reported: float) -> dict[str, object]:
    return {"uri": uri, "slots": slots, "running": running, "memory_bytes": None,
            "state": "ACTIVE", "last_heartbeat": 100.0, **reported}  # fmt: skip


def test_placement_prefers_the_less_loaded_agent_among_those_with_free_slots() -> None:
    busy = agent("grpc://a:1", slots=4, cpu_percent=96.0, memory_percent=30.0)
    idle = agent("grpc://b:1", slots=2, cpu_percent=12.0, memory_percent=35.0)
    # without reports the agent with more free slots takes the first tasks
    assert assign("resource_aware", [agent("grpc://a:1", 4), agent("grpc://b:1", 2)], 2) == [
        "grpc://a:1",
        "grpc://a:1",
    ]
    # the overloaded one gets tasks only once the other's slots are taken
    assert assign("resource_aware", [busy, idle], 4) == [
        "grpc://b:1", "grpc://b:1", "grpc://a:1", "grpc://a:1",
    ]  # fmt: skip
    # memory pressure counts as CPU does
    swapping = agent("grpc://a:1", slots=4, cpu_percent=5.0, memory_percent=93.0)
    assert assign("resource_aware", [swapping, idle], 1) == ["grpc://b:1"]
    # small differences do not move tasks: slots decide between agents equally loaded
    calm = agent("grpc://a:1", slots=4, cpu_percent=20.0, memory_percent=30.0)
    assert assign("resource_aware", [calm, idle], 1) == ["grpc://a:1"]
    # with no free slot anywhere, tasks still go somewhere (they queue)
    full = [agent("grpc://a:1", 1, 1, cpu_percent=99.0), agent("grpc://b:1", 1, 1)]
    assert assign("resource_aware", full, 1) == ["grpc://b:1"]


def test_agents_of_one_host_share_its_load_so_tasks_still_spread() -> None:
    """Two agents of one host sample its CPU at other moments (95 % and 60 % here): they
    count as equally loaded, and a streaming job's tasks spread over both."""
    one = agent("grpc://h:1", slots=6, cpu_percent=95.0) | {"host": "h"}
    two = agent("grpc://h:2", slots=6, cpu_percent=60.0) | {"host": "h"}
    placed = assign("resource_aware", [one, two], 4)
    assert sorted(placed) == ["grpc://h:1", "grpc://h:1", "grpc://h:2", "grpc://h:2"]
    elsewhere = agent("grpc://g:1", slots=6, cpu_percent=10.0) | {"host": "g"}
    assert assign("resource_aware", [one, two, elsewhere], 2) == ["grpc://g:1", "grpc://g:1"]


def test_the_cluster_view_marks_an_overloaded_agent() -> None:
    agents = [
        agent("grpc://a:1", running=1, cpu_percent=97.0, memory_percent=41.0),
        agent("grpc://b:1", running=1, cpu_percent=20.0, memory_percent=41.0),
        agent("grpc://c:1"),  # reported nothing yet
    ]
    view = cluster_view("grpc://jm:1", agents, [], now=101.0)
    assert [a["overloaded"] for a in view["agents"]] == [True, False, False]
    assert [a["cpu_percent"] for a in view["agents"]] == [97.0, 20.0, None]
    lines = cluster_text(view).splitlines()
    assert lines[1].endswith("overloaded (host CPU 97%, memory 41%)")
    assert "overloaded" not in lines[2] and "overloaded" not in lines[3]
    page = cluster_html(view)
    assert page.count('class="sabot-agent-overloaded"') == 1
    badge = page.index('class="sabot-agent-overloaded"')
    assert page.index('data-agent="grpc://a:1"') < badge
    assert badge < page.index('data-agent="grpc://b:1"')


def test_a_heartbeat_carries_what_psutil_measures() -> None:
    sampler = ResourceSampler()
    sample = sampler.sample()
    rss = psutil.Process(os.getpid()).memory_info().rss
    assert abs(sample["rss_bytes"] - rss) < 64 * 2**20  # this process, as psutil sees it
    assert 0 < sample["memory_percent"] <= 100 and 0 <= sample["cpu_percent"] <= 100
    io = psutil.Process().io_counters()
    assert sample["read_bytes"] <= io.read_bytes and sample["write_bytes"] <= io.write_bytes
    beat = Heartbeat("grpc://a:1", "ACTIVE", 2, resources=sample,
                     consumer_lag=({"topic": "bids", "group": None, "partition": "0", "lag": 3},))  # fmt: skip
    assert Heartbeat.from_dict(beat.to_dict()) == beat
    with pytest.raises(ClusterError, match="heartbeat: lag must not be negative"):
        Heartbeat.from_dict(
            {**beat.to_dict(), "consumer_lag": [{"topic": "t", "partition": "0", "lag": -1}]}
        )
    unknown = Heartbeat.from_dict({**beat.to_dict(), "resources": {"gpu_percent": 3.0}})
    assert unknown.resources == {}  # what sabot-lab does not know of is left out
