"""Killing an agent of a LocalCluster under a running job, as the recovery tests do."""

from __future__ import annotations

import random
import signal

import sabot_lab as sl
from tests.support.polling import wait_for


def kill_an_agent_running(
    job: sl.Job, cluster: sl.LocalCluster, rng: random.Random | None = None
) -> int:
    """SIGKILL an agent that runs one of ``job``'s tasks now (killing one whose tasks all
    ended would change nothing; with ``rng``, one of them at random), once it has exited;
    its index in ``cluster``."""
    wait_for(lambda: any(t["state"] == "RUNNING" for t in job.tasks()), timeout=60)
    running = {t["agent"] for t in job.tasks() if t["state"] == "RUNNING"}
    candidates = [i for i, uri in enumerate(cluster.agent_uris) if uri in running]
    victim = rng.choice(candidates) if rng is not None else candidates[0]
    cluster.agent_processes[victim].send_signal(signal.SIGKILL)
    cluster.agent_processes[victim].wait()
    return victim
