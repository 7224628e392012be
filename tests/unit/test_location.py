"""Names that came over the network cannot climb out of the directory they are joined to."""

from __future__ import annotations

from pathlib import Path

import pytest

from sabot_lab.errors import LocationError
from sabot_lab.location import Location, child_name


@pytest.mark.parametrize("name", ["..", "../x", "a/../../b", "", "a//b", ".", "a\\b", "x\0y"])
def test_a_child_name_that_could_leave_its_root_is_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(LocationError, match="cannot name a file inside its directory"):
        Location.of(tmp_path) / name


def test_plain_names_and_grandchildren_stay_under_the_root(tmp_path: Path) -> None:
    child = Location.of(tmp_path) / "checkpoints/job-1"
    assert child.local_path == tmp_path / "checkpoints" / "job-1"
    assert child_name("epoch-3.arrow") == "epoch-3.arrow"
