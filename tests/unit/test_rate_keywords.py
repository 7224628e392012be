"""``nexmark(event_rate=)`` spaces events in event time; ``from_generator(max_rows_per_second=)``
paces rows in wall-clock time. The former ``rate=`` of both still works, with a
``DeprecationWarning`` naming the new keyword."""

from __future__ import annotations

import datetime as dt
import itertools
import warnings

import pytest

import sabot_lab as sl
from sabot_lab.errors import SourceError


def event_times(gen: sl.Nexmark) -> list[dt.datetime]:
    return gen.events.collect().column("dateTime").to_pylist()


def test_nexmark_event_rate_spaces_event_times() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        times = event_times(sl.nexmark(events=4, event_rate=4.0, seed=1))
    assert [b - a for a, b in itertools.pairwise(times)] == [dt.timedelta(milliseconds=250)] * 3


def test_nexmark_rate_is_deprecated_for_event_rate() -> None:
    with pytest.warns(
        DeprecationWarning,
        match=r"nexmark\(rate=\.\.\.\) is deprecated: use nexmark\(event_rate=\.\.\.\)",
    ):
        old = sl.nexmark(events=4, rate=4.0, seed=1)
    assert event_times(old) == event_times(sl.nexmark(events=4, event_rate=4.0, seed=1))
    with pytest.raises(SourceError, match="event_rate must be a positive number"):
        sl.nexmark(event_rate=0)


def test_from_generator_max_rows_per_second() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paced = sl.from_generator(lambda i: {"n": [i]}, max_rows_per_second=10_000)
    assert paced.head(3).collect().column("n").to_pylist() == [0, 1, 2]
    with pytest.raises(SourceError, match="max_rows_per_second must be a positive number"):
        sl.from_generator(lambda i: {"n": [i]}, max_rows_per_second=0)


def test_from_generator_rate_is_deprecated_for_max_rows_per_second() -> None:
    new = r"from_generator\(max_rows_per_second=\.\.\.\)"
    with pytest.warns(
        DeprecationWarning, match=r"from_generator\(rate=\.\.\.\) is deprecated: use " + new
    ):
        old = sl.from_generator(lambda i: {"n": [i]}, rate=10_000)
    assert old.head(3).collect().column("n").to_pylist() == [0, 1, 2]
    with (
        pytest.warns(DeprecationWarning),
        pytest.raises(SourceError, match="max_rows_per_second must be a positive number"),
    ):
        sl.from_generator(lambda i: {"n": [i]}, rate=0)


def test_the_warning_points_at_the_caller() -> None:
    with pytest.warns(DeprecationWarning) as caught:
        sl.nexmark(events=1, rate=2.0)
    assert caught[0].filename == __file__
