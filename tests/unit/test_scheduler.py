"""Recovery scenarios on the JobManager's scheduler state machine, without processes: an agent
lost, a task failing, a JobManager restart, a cancel during deploy, checkpoint completion with
retention, savepoints. Each applies events to a job's run and checks the commands."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

import sabot_lab as sl
from sabot_lab.errors import ClusterError
from sabot_lab.physical import PhysicalPlan, ProducerId, TaskId, plan_stages
from sabot_lab.runtime.jobmanager.scheduler import (
    AgentLost,
    AgentsChecked,
    AgentSeen,
    AgentsProbed,
    AskForCheckpoint,
    CheckpointProgress,
    Command,
    CompleteCheckpoint,
    DeployFailed,
    DeployRequested,
    DropJob,
    EndJob,
    JobEnding,
    JobRun,
    KeepSavepoint,
    MarkAgent,
    Outcome,
    ProbeAgents,
    RecordTask,
    Settle,
    StagePlaced,
    StartCheckpoint,
    TaskEnded,
    Tick,
    agent_after_heartbeat,
    agent_is_late,
    agents_transition,
    transition,
)
from sabot_lab.runtime.jobmanager.store import JobStore
from sabot_lab.runtime.protocol import (
    AgentState,
    Heartbeat,
    JobRequest,
    JobState,
    TaskReport,
    TaskState,
)

A, B = "grpc://a:1", "grpc://b:1"


def two_stages() -> PhysicalPlan:
    """A plan of two stages of two tasks."""
    counts = sl.from_pydict({"k": [1, 2, 1]}).group_by("k").agg(sl.col("k").count().alias("n"))
    return plan_stages(counts.graph, 2)


def running_job(interval: float | None = None, retained: int = 3) -> JobRun:
    """A job of two stages of two tasks, attempt 0, placed on agents a and b."""
    placed = {(s, p, 0): (A if p == 0 else B) for s in (0, 1) for p in (0, 1)}
    run = JobRun("j1", two_stages(), interval, retained, placed=placed)
    run.tasks = run.tasks_in((0, 1), 0)
    run.state = JobState.RUNNING
    return run


def of(commands: list[Command], kind: type) -> list[Command]:
    return [c for c in commands if isinstance(c, kind)]


# -- agents and tasks ----------------------------------------------------------------------


def test_an_agent_lost_fails_its_tasks_and_the_attempt_not_the_job() -> None:
    run = running_job()
    on_b = tuple(t for t, uri in run.tasks.items() if uri == B)
    commands = transition(run, AgentLost(B, on_b))
    assert commands == [
        *(RecordTask(t, TaskState.FAILED, f"agent {B} is gone") for t in on_b),
        Settle(Outcome.AGENT_FAILED),
    ]
    assert not run.ended  # the workflow starts another attempt


def test_a_task_that_failed_fails_the_job_unless_one_of_its_agents_is_gone() -> None:
    run = running_job()
    failed = TaskEnded("j1/0.1/0", B, TaskState.FAILED, "boom", agents=frozenset({A, B}))
    commands = transition(run, failed)
    assert commands == [
        RecordTask("j1/0.1/0", TaskState.FAILED, "boom"),
        ProbeAgents((A, B), f"task j1/0.1/0 failed on {B}: boom"),
    ]
    probe = commands[1]
    assert isinstance(probe, ProbeAgents)
    assert transition(run, AgentsProbed((A,), probe.error)) == [
        MarkAgent(A, AgentState.FAILED),
        Settle(Outcome.AGENT_FAILED),
    ]
    assert not run.ended
    assert transition(run, AgentsProbed((), probe.error)) == [
        EndJob(JobState.FAILED, probe.error),
        DropJob((A, B)),  # a failed job's rows and task records go from its agents too
        Settle(Outcome.FAILED),
    ]
    assert run.ended and run.state == JobState.FAILED and run.error == probe.error


def test_a_task_failing_while_the_tasks_stop_is_only_recorded() -> None:
    run = running_job()
    stopped = TaskEnded("j1/0.0/0", A, TaskState.FAILED, "cancelled late", stopping=True)
    assert transition(run, stopped) == [RecordTask("j1/0.0/0", TaskState.FAILED, "cancelled late")]
    assert not run.ended


def test_a_finished_task_records_its_metrics_and_last_checkpoint() -> None:
    run = running_job(interval=1.0)
    ended = TaskEnded("j1/1.0/0", A, TaskState.FINISHED, checkpoint=4, metrics={"rows_out": 7})
    assert transition(run, ended) == [
        RecordTask("j1/1.0/0", TaskState.FINISHED, None, {"rows_out": 7})
    ]
    assert run.acks["j1/1.0/0"] == 4


def test_an_agent_lost_during_deploy_is_failed_and_so_is_the_attempt_not_the_job() -> None:
    run = running_job()
    assert transition(run, DeployRequested()) == []
    assert transition(run, StagePlaced(slots=4)) == []  # placed: the tasks go out...
    # ...and agent b refuses (or does not answer) its deploy
    assert transition(run, DeployFailed(B)) == [
        MarkAgent(B, AgentState.FAILED),
        Settle(Outcome.AGENT_FAILED),
    ]
    assert not run.ended  # the workflow starts another attempt


def test_a_deploy_whose_tls_handshake_failed_fails_the_job_with_its_cause() -> None:
    """Another attempt would fail the same way: the certificates must be fixed first."""
    run = running_job()
    cause = f"{B}: TLS handshake failed: this process does not trust the server's certificate"
    error = f"deploying to agent {B} failed: {cause}"
    assert transition(run, DeployFailed(B, cause)) == [
        EndJob(JobState.FAILED, error),
        DropJob((A, B)),
        Settle(Outcome.FAILED),
    ]
    assert run.ended and run.error == error


def test_a_stage_whose_input_agent_is_gone_or_that_finds_no_agent_fails_its_attempt() -> None:
    run = running_job()
    assert transition(run, StagePlaced(slots=2, lost=(B,))) == [Settle(Outcome.AGENT_FAILED)]
    assert transition(run, StagePlaced(slots=0)) == [Settle(Outcome.AGENT_FAILED)]
    assert not run.ended


def test_a_job_running_all_its_tasks_at_once_fails_when_the_slots_are_too_few() -> None:
    run = running_job()
    assert transition(run, StagePlaced(slots=4, needed=4)) == []
    commands = transition(run, StagePlaced(slots=3, needed=4))
    assert [type(c) for c in commands] == [EndJob, DropJob, Settle]
    end, _, settle = commands
    assert isinstance(end, EndJob) and end.state == JobState.FAILED
    assert end.error is not None and end.error.startswith("this job runs all its 4 tasks at once")
    assert settle == Settle(Outcome.FAILED)
    assert run.ended and run.state == JobState.FAILED
    # a new attempt whose lost agent was never replaced: no agent at all, still too few
    assert transition(running_job(), StagePlaced(slots=0, needed=4))[-1] == Settle(Outcome.FAILED)


def test_an_agent_lost_during_the_run_is_failed_by_the_monitor_then_its_tasks() -> None:
    run = running_job()
    seen = (AgentSeen(A, AgentState.BUSY, 9.5), AgentSeen(B, AgentState.BUSY, 4.0))
    checked = AgentsChecked(now=10.0, started=0.0, timeout=5.0, agents=seen)
    assert agents_transition(checked) == [MarkAgent(B, AgentState.FAILED)]
    # once b is FAILED, the job's wait sees its tasks lost with it
    on_b = tuple(sorted(t for t, uri in run.tasks.items() if uri == B))
    commands = transition(run, AgentLost(B, on_b))
    assert of(commands, RecordTask) == [
        RecordTask(t, TaskState.FAILED, f"agent {B} is gone") for t in on_b
    ]
    assert commands[-1] == Settle(Outcome.AGENT_FAILED)
    # an agent already FAILED, or one a restarted JobManager has not waited for, is left alone
    failed = (AgentSeen(B, AgentState.FAILED, 4.0),)
    assert agents_transition(AgentsChecked(10.0, 0.0, 5.0, failed)) == []
    assert agents_transition(AgentsChecked(10.0, 6.0, 5.0, seen)) == []


def test_a_restarted_agent_rejoins_and_a_silent_one_is_late() -> None:
    assert agent_after_heartbeat(AgentState.ACTIVE, AgentState.FAILED) == AgentState.ACTIVE
    assert agent_after_heartbeat(AgentState.DRAINING, AgentState.FAILED) == AgentState.DRAINING
    assert agent_after_heartbeat(AgentState.BUSY, AgentState.ACTIVE) == AgentState.BUSY
    # a drain's beat overtaken by its stop's leaves it stopped; the agent started again rejoins
    assert agent_after_heartbeat(AgentState.DRAINING, AgentState.STOPPED) == AgentState.STOPPED
    assert agent_after_heartbeat(AgentState.STARTING, AgentState.STOPPED) == AgentState.STARTING
    assert agent_is_late(AgentState.BUSY, 0.0, 0.0, now=3.0, timeout=2.0)
    assert not agent_is_late(AgentState.FAILED, 0.0, 0.0, now=3.0, timeout=2.0)
    # a JobManager that restarted gives every agent a full timeout to report in
    assert not agent_is_late(AgentState.ACTIVE, 0.0, started=2.0, now=3.0, timeout=2.0)


# -- JobManager restart and cancel ------------------------------------------------------------


def test_a_restarted_jobmanager_resumes_a_running_job_from_its_rows() -> None:
    tasks = [
        {"stage": 0, "partition": p, "attempt": 0, "agent": uri} for p, uri in enumerate((A, B))
    ]
    run = JobRun.resume({"job_id": "j1", "state": "RUNNING"}, tasks, two_stages())
    assert run.placed_in(0) == {(0, 0): A, (0, 1): B}  # tasks go back where they were
    assert run.sent == set()  # deployed again: deploys are idempotent by task id
    assert transition(run, DeployRequested()) == []
    rows = [
        {"checkpoint_id": 1, "state": "DISCARDED"},
        {"checkpoint_id": 2, "state": "COMPLETE"},
        {"checkpoint_id": 3, "state": "PENDING"},  # in flight when it was killed
    ]
    progress = CheckpointProgress.resume(rows, now=10.0)
    assert (progress.asked, progress.completed, progress.complete) == (3, 3, [2])
    run.checkpoint_interval, run.progress = 1.0, progress
    commands = transition(run, Tick(11.0, frozenset(run.tasks)))
    assert of(commands, StartCheckpoint) == [StartCheckpoint(4)]  # numbers go on


def test_a_restarted_jobmanager_deploys_nothing_of_an_ended_job() -> None:
    run = JobRun.resume({"job_id": "j1", "state": "CANCELLED"}, [], plan=None)
    assert run.ended
    assert transition(run, DeployRequested()) == [Settle(Outcome.CANCELLED)]


def test_a_cancel_during_deploy_stops_the_stage_and_ends_the_job_once() -> None:
    run = running_job()
    assert transition(run, DeployRequested()) == []  # placing the first stage...
    cancel = JobEnding(JobState.CANCELLED, agents=frozenset({A, B}))
    assert transition(run, cancel) == [EndJob(JobState.CANCELLED), DropJob((A, B))]
    assert run.ended and run.plan is None and run.placed == {} and run.sent == set()
    # ...the deploy that follows deploys nothing, the stage step ends
    assert transition(run, DeployRequested()) == [Settle(Outcome.CANCELLED)]
    # a second cancel, or the workflow's own end, only frees rows again
    assert transition(run, cancel) == [DropJob((A, B))]
    finished = JobEnding(JobState.FINISHED, agents=frozenset({A}))
    assert transition(run, finished) == [DropJob((A,))]
    assert run.state == JobState.CANCELLED


def test_a_finished_job_frees_its_rows_before_it_says_so() -> None:
    run = running_job()
    finished = JobEnding(JobState.FINISHED, agents=frozenset({A, B}))
    assert transition(run, finished) == [DropJob((A, B)), EndJob(JobState.FINISHED)]


# -- checkpoints ----------------------------------------------------------------------------


def take_checkpoints(run: JobRun, count: int) -> list[CompleteCheckpoint]:
    """Tick a run through ``count`` checkpoints, every task acknowledging each."""
    done: list[CompleteCheckpoint] = []
    now = 0.0
    while len(done) < count:
        now += 1.0
        commands = transition(run, Tick(now, frozenset(run.tasks)))
        done += [c for c in commands if isinstance(c, CompleteCheckpoint)]
        for asked in of(commands, AskForCheckpoint):
            assert isinstance(asked, AskForCheckpoint)
            assert asked.agents == (A, B)
            run.acks.update({t: asked.checkpoint for t in run.tasks})
    return done


def test_each_completion_discards_the_checkpoints_beyond_the_retained_in_the_same_step() -> None:
    run = running_job(interval=0.5, retained=3)
    run.progress = CheckpointProgress.resume([], now=0.0)
    done = take_checkpoints(run, 6)
    assert [(c.checkpoint, c.first_epoch, c.discard) for c in done] == [
        (1, 1, ()),
        (2, 2, ()),
        (3, 3, ()),
        (4, 4, (1,)),
        (5, 5, (2,)),
        (6, 6, (3,)),
    ]
    assert run.progress.complete == [4, 5, 6]


def test_a_checkpoint_completes_only_when_every_running_task_passed_its_barrier() -> None:
    run = running_job(interval=1.0)
    run.progress = CheckpointProgress.resume([], now=0.0)
    assert of(transition(run, Tick(2.0, frozenset(run.tasks))), StartCheckpoint) == [
        StartCheckpoint(1)
    ]
    run.acks["j1/0.0/0"] = 1
    commands = transition(run, Tick(2.1, frozenset(run.tasks)))
    assert of(commands, CompleteCheckpoint) == []
    assert commands == []  # before the interval: not asked again yet
    # asked again after the interval (a task that was starting may have missed it)
    assert transition(run, Tick(3.5, frozenset(run.tasks))) == [AskForCheckpoint(1, (A, B))]


def test_tasks_that_ended_before_the_barrier_are_finished_in_the_checkpoint() -> None:
    run = running_job(interval=1.0)
    run.progress = CheckpointProgress.resume([], now=0.0)
    transition(run, Tick(2.0, frozenset(run.tasks)))
    running = frozenset(t for t in run.tasks if not t.startswith("j1/0."))  # stage 0 ended
    run.acks.update({t: 1 for t in running})
    completed = of(transition(run, Tick(2.1, running)), CompleteCheckpoint)
    assert completed == [CompleteCheckpoint(1, 1, (ProducerId(0, 0), ProducerId(0, 1)), ())]


def test_no_checkpoint_completes_or_starts_after_the_job_was_cancelled() -> None:
    run = running_job(interval=1.0)
    run.progress = CheckpointProgress.resume([], now=0.0)
    transition(run, Tick(2.0, frozenset(run.tasks)))
    run.acks.update({t: 1 for t in run.tasks})
    transition(run, JobEnding(JobState.CANCELLED))
    assert transition(run, Tick(9.0, frozenset(run.tasks))) == []


def test_a_savepoint_is_asked_for_at_once_and_kept_when_its_checkpoint_completes() -> None:
    run = running_job(interval=60.0)
    run.progress = CheckpointProgress.resume([], now=0.0)
    wanted: Future[str] = Future()
    run.savepoints[0] = wanted
    commands = transition(run, Tick(1.0, frozenset(run.tasks)))  # well before the interval
    assert commands == [StartCheckpoint(1), AskForCheckpoint(1, (A, B))]
    assert run.savepoints == {1: wanted}
    run.acks.update({t: 1 for t in run.tasks})
    commands = transition(run, Tick(1.1, frozenset(run.tasks)))
    assert commands == [CompleteCheckpoint(1, 1, (), ()), KeepSavepoint(1)]


def test_retention_is_one_transaction_with_completion() -> None:
    store = JobStore("sqlite://")
    store.create_job("j1", "q")
    states: list[list[str]] = []
    for n in range(1, 6):
        store.add_checkpoint("j1", n, f"/c/chk-{n}")
        store.complete_checkpoint("j1", n, 10, discard=[n - 3] if n > 3 else [])
        states.append([c["state"] for c in store.checkpoints("j1")])
    # after every completion: at most three COMPLETE, the rest DISCARDED, never more
    assert states[-1] == ["DISCARDED", "DISCARDED", "COMPLETE", "COMPLETE", "COMPLETE"]
    assert all(s.count("COMPLETE") == min(len(s), 3) for s in states)


# -- the protocol ------------------------------------------------------------------------------


def test_ids_are_formatted_and_parsed_in_one_place() -> None:
    task = TaskId.parse("job-7/2.11/3")
    assert (task.job_id, task.producer, task.attempt) == ("job-7", ProducerId(2, 11), 3)
    assert str(task) == "job-7/2.11/3" and task.scope == "job-7/3"
    with pytest.raises(ClusterError, match="not a producer id"):
        TaskId.parse("j1/x/0")


def test_action_bodies_are_checked_on_receipt() -> None:
    request = JobRequest("{}", "q", 2, "resource_aware", 0.5, {"kind": "parquet"}, "/sp")
    assert JobRequest.from_dict(request.to_dict()) == request
    with pytest.raises(ClusterError, match="plan is missing"):
        JobRequest.from_dict({"name": "q"})
    with pytest.raises(ClusterError, match="checkpoint_interval must be a number or null"):
        JobRequest.from_dict({"plan": "{}", "checkpoint_interval": "1s"})
    with pytest.raises(ClusterError, match="positive number of seconds"):
        JobRequest.from_dict({"plan": "{}", "checkpoint_interval": 0})
    with pytest.raises(ClusterError, match="needs a checkpoint_interval"):
        JobRequest.from_dict({"plan": "{}", "from_savepoint": "/sp"})
    report = TaskReport("j1/0.0/0", "RUNNING", checkpoint=2, metrics={"rows_in": 5})
    beat = Heartbeat(A, "BUSY", slots=2, memory_bytes=None, running=1, tasks=(report,))
    assert Heartbeat.from_dict(beat.to_dict()) == beat
    with pytest.raises(ClusterError, match="heartbeat: slots must be an integer"):
        Heartbeat.from_dict({"uri": A, "slots": True})
