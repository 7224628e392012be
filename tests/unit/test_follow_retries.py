"""follow() rides out readings that fail with a SabotError (a JobManager restarting): it tries
again, says so through on_trouble, and says nothing more once a reading comes; it ends with
the error once its patience is spent, or at once for an error that is not the cluster's."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from sabot_lab.errors import UnreachableError
from sabot_lab.notebook.live import follow


def readings(outcomes: list[int | Exception]) -> Callable[[], int]:
    """A poll giving ``outcomes`` in turn (raising the exceptions), then the last one."""
    it: Iterator[int | Exception] = iter(outcomes)

    def poll() -> int:
        outcome = next(it, outcomes[-1])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return poll


def test_failed_readings_are_tried_again_and_the_trouble_is_told_then_cleared() -> None:
    down = UnreachableError("grpc://127.0.0.1:1 does not answer")
    seen: list[int] = []
    told: list[str] = []

    async def main() -> int:
        poll = readings([1, down, down, down, 2, 3])
        return await follow(poll, seen.append, lambda n: n == 3, 0.001, on_trouble=told.append)

    assert asyncio.run(main()) == 3
    assert seen == [1, 2, 3]
    assert len(told) == 4 and told[-1] == ""
    assert all("does not answer" in t and t.endswith("trying again") for t in told[:3])


def test_a_follower_out_of_patience_ends_with_the_error_and_says_so() -> None:
    told: list[str] = []

    async def main() -> None:
        poll = readings([UnreachableError("gone")])
        await follow(poll, print, lambda n: True, 0.001, on_trouble=told.append, patience=0.05)

    with pytest.raises(UnreachableError, match="gone"):
        asyncio.run(main())
    assert told[-1].startswith("stopped following: no reading for") and "gone" in told[-1]
    assert all(t.endswith("trying again") for t in told[:-1])


def test_an_error_not_of_the_cluster_ends_the_follower_at_once() -> None:
    told: list[str] = []
    calls: list[int] = []

    def poll() -> int:
        calls.append(1)
        raise KeyError("state")

    async def main() -> None:
        await follow(poll, print, lambda n: True, 0.001, on_trouble=told.append)

    with pytest.raises(KeyError):
        asyncio.run(main())
    assert len(calls) == 1 and told == ["stopped following: KeyError: 'state'"]
