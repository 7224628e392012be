"""``job.id``: the id of a submitted job, as ``cluster.job(...)`` takes it."""

from __future__ import annotations

import sabot_lab as sl


def test_job_id_finds_the_job_again() -> None:
    rows = sl.from_pydict({"x": [3, 1, 2]})
    with sl.LocalCluster(agents=1, slots=1) as cluster:
        job = rows.submit(cluster)
        assert job.id == job.job_id and job.id
        again = cluster.job(job.id)
        assert again.id == job.id
        assert sorted(again.result(timeout=120).column("x").to_pylist()) == [1, 2, 3]
