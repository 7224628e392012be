"""Reads and writes of the JobManager's tables (:mod:`.tables`, on SQLite or PostgreSQL,
created and upgraded by :mod:`.migrations`): rows come back as dicts keyed by the names the
JobManager and its clients use, times in seconds since the epoch.

>>> store = JobStore("sqlite://")
>>> store.create_job("j1", "fintech")
True
>>> store.set_job_state("j1", "RUNNING")
>>> store.job("j1")["state"]
'RUNNING'
>>> store.add_task("j1/0.0/0", "j1", stage=0, partition=0, attempt=0, agent="grpc://a")
>>> [t["state"] for t in store.tasks("j1")]
['SCHEDULED']
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from sabot_lab.config import get_config
from sabot_lab.errors import ClusterError, JobNotFoundError
from sabot_lab.runtime.jobmanager.migrations import migrate
from sabot_lab.runtime.jobmanager.sqlite_turns import TurnTakingConnection
from sabot_lab.runtime.jobmanager.tables import (
    ALL_TABLES,
    agent_address,
    agents,
    checkpoints,
    for_schema,
    jobs,
    keyed,
    task_logs,
    tasks,
)
from sabot_lab.runtime.protocol import (
    AGENT_STATES,
    ENDED,
    JOBS_PAGE,
    STATES,
    TASK_FIGURES,
    TASK_METRICS,
    JobState,
    TaskState,
)

__all__ = [
    "JobStore",
    "Planned",
    "create_engine",
    "idle_session_limit",
    "sqlalchemy_url",
    "unreachable_database",
]


class Planned(NamedTuple):
    """What a job's row says of its physical plan: the plan (JSON, kept while the job
    runs), its partitions, the tasks an attempt runs, whether its sources end."""

    plan_json: str | None
    partitions: int | None
    tasks: int | None
    bounded: bool | None


UNENDED = tuple(s for s in STATES if s not in ENDED)
"""States of tasks not ended (a query for them uses the index of tasks by state)."""


def _lock_in_order(conn: sa.Connection, *where: sa.ColumnElement[bool]) -> None:
    """Lock the task rows ``where`` selects in task order before a statement updates them
    all (PostgreSQL; SQLite locks the whole database): two transactions that update some of
    the same tasks then take their locks in one order, and never deadlock."""
    conn.execute(
        sa.select(tasks.c.task_id).where(*where).order_by(tasks.c.task_id).with_for_update()
    )


class JobStore:
    """Reads and writes the JobManager's tables (``url``: ``sqlite:///jm.sqlite``,
    ``postgresql://...`` (opened with psycopg) or any SQLAlchemy URL). On PostgreSQL they
    live in ``schema`` (default: ``Config.database_schema``), :attr:`schema`; None on SQLite.

    The ``agents`` table is mirrored in memory: a store is its only writer (the one leading
    JobManager of a database), so placing tasks reads the agents without a query.

    :attr:`fence` (None: every write goes through): called in the transaction of each write
    that decides (a job recorded or ended, tasks deployed or ended, a checkpoint asked for or
    completed) before it writes; it raises to refuse the write, e.g. a JobManager's leader
    lease (:meth:`~.lease.LeaderLease.fence`) once another leads.
    """

    fence: Callable[[sa.Connection], None] | None = None
    heartbeat_write_interval: float = 5.0
    """Seconds a heartbeat that changes nothing but the agent's last heartbeat is kept in
    the mirror only: the table's ``last_heartbeat`` lags by at most this much (a JobManager
    taking over gives every agent a full heartbeat timeout anyway)."""

    def __init__(self, url: str, schema: str | None = None) -> None:
        wanted = schema or get_config().cluster.database_schema
        self.engine, self.schema = for_schema(create_engine(url), wanted)
        try:
            self.version = migrate(self.engine, self.schema)
        except sa.exc.OperationalError as exc:
            raise unreachable_database(url, exc) from None
        self._agents_lock = threading.Lock()
        """Held while the mirror is read or changed (never during a query: placing tasks
        does not wait for the database)."""
        self._agents_writing = threading.Lock()
        """Held by each writer of the agents' rows, from its write to its mirror's change,
        so that the mirror changes in the order of the writes."""
        self._agents: dict[str, dict[str, Any]] = {}
        self._written_at: dict[str, float] = {}
        """When each agent's row was last written (by this store)."""
        self.reload_agents()

    def reload_agents(self) -> None:
        """Read the ``agents`` table into the in-memory mirror again (a JobManager that
        takes over from another leader: that one wrote it meanwhile)."""
        with self._agents_writing:
            with self.engine.connect() as conn:
                rows = conn.execute(sa.select(*keyed(agents))).mappings()
                mirror = {r["uri"]: dict(r) for r in rows}
            with self._agents_lock:
                self._agents = mirror

    @contextlib.contextmanager
    def _deciding(self) -> Iterator[sa.Connection]:
        """A transaction for a write that decides: :attr:`fence` checked first."""
        with self.engine.begin() as conn:
            if self.fence is not None:
                self.fence(conn)
            yield conn

    # -- jobs -------------------------------------------------------------------------
    def create_job(
        self,
        job_id: str,
        name: str,
        created_at: float | None = None,
        physical: Planned | None = None,
        state: str = JobState.PENDING.value,
        error: str | None = None,
    ) -> bool:
        """Record a new job, PENDING or as ``state``, with its ``physical`` plan when it is
        known (SCHEDULED), or ``error``. Doing it twice for one id changes nothing; returns
        whether the job was new."""
        _check(state, STATES)
        now = time.time()
        planned = physical or Planned(None, None, None, None)
        insert = self._insert(jobs).on_conflict_do_nothing(index_elements=[jobs.c.job_id])
        with self._deciding() as conn:  # (psycopg counts inserted rows only when asked)
            done = conn.execution_options(preserve_rowcount=True).execute(
                insert.values(
                    job_id=job_id,
                    name=name,
                    state=state,
                    physical=planned.plan_json,
                    partitions=planned.partitions,
                    planned_tasks=planned.tasks,
                    bounded=planned.bounded,
                    error=error,
                    created_at=created_at or now,
                    updated_at=now,
                    finished_at=now if state in ENDED else None,
                )
            )
        return done.rowcount == 1

    def _insert(self, table: sa.Table) -> Any:
        """An INSERT of this database's dialect (with ``on_conflict_do_nothing``)."""
        dialect = sqlite if self.engine.dialect.name == "sqlite" else postgresql
        return dialect.insert(table)

    def set_job_state(self, job_id: str, state: str, error: str | None = None) -> None:
        """Move a job to ``state`` (an ended job stays ended, without its physical
        plan); a job that ends ends its tasks
        not ended yet as CANCELLED (its agents drop them), so they hold no slot.

        >>> store = JobStore("sqlite://")
        >>> _ = store.create_job("j1", "q")
        >>> store.add_task("j1/0.0/0", "j1", 0, 0, 0, "grpc://a:1")
        >>> store.set_job_state("j1", "FAILED", "boom")
        >>> store.unended_tasks_by("agent"), store.tasks("j1")[0]["state"]
        ({}, 'CANCELLED')
        """
        _check(state, STATES)
        now = time.time()
        values: dict[str, Any] = {"state": state, "updated_at": now}
        if error is not None:
            values["error"] = error
        if state in ENDED:
            values["finished_at"] = now
            values["physical"] = None
        with self._deciding() as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.job_id == job_id, jobs.c.state.not_in(ENDED))
                .values(**values)
            )
            if state in ENDED:
                _lock_in_order(conn, tasks.c.job_id == job_id, tasks.c.state.not_in(ENDED))
                conn.execute(
                    tasks.update()
                    .where(tasks.c.job_id == job_id, tasks.c.state.not_in(ENDED))
                    .values(state=JobState.CANCELLED.value, updated_at=now, completed_at=now)
                )

    def job(self, job_id: str) -> dict[str, Any]:
        """One job's row.

        >>> JobStore("sqlite://").job("gone")
        Traceback (most recent call last):
        ...
        sabot_lab.errors.JobNotFoundError: no job 'gone': unknown to this cluster, or deleted (ended jobs are deleted after their retention period, result_ttl, or by Job.delete())
        """
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(*keyed(jobs)).where(jobs.c.job_id == job_id))
                .mappings()
                .first()
            )
        if row is None:
            raise JobNotFoundError(
                f"no job {job_id!r}: unknown to this cluster, or deleted (ended jobs are "
                "deleted after their retention period, result_ttl, or by Job.delete())"
            )
        return dict(row)

    def jobs(self, limit: int = JOBS_PAGE, before: str | None = None) -> list[dict[str, Any]]:
        """A page of jobs, newest first (without plans): at most ``limit``, those recorded
        before job ``before`` (the last of the previous page; an unknown one: from the
        newest).

        >>> store = JobStore("sqlite://")
        >>> for n in range(5):
        ...     _ = store.create_job(f"j{n}", "q", created_at=float(n + 1))
        >>> [j["job_id"] for j in store.jobs(limit=2)], [j["job_id"] for j in store.jobs(2, "j3")]
        (['j4', 'j3'], ['j2', 'j1'])
        """
        columns = [c for c in keyed(jobs) if c.name != "physical"]
        order = (jobs.c.created_at.desc(), jobs.c.job_id.desc())
        query = sa.select(*columns).order_by(*order).limit(limit)
        with self.engine.connect() as conn:
            if before is not None:
                mark = conn.execute(
                    sa.select(jobs.c.created_at).where(jobs.c.job_id == before)
                ).scalar()
                if mark is not None:
                    query = query.where(
                        (jobs.c.created_at < mark)
                        | ((jobs.c.created_at == mark) & (jobs.c.job_id < before))
                    )
            return [dict(r) for r in conn.execute(query).mappings()]

    def job_counts(self) -> dict[str, int]:
        """How many jobs are in each state.

        >>> store = JobStore("sqlite://")
        >>> _ = store.create_job("j1", "q"); store.job_counts()
        {'PENDING': 1}
        """
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(jobs.c.state, sa.func.count()).group_by(jobs.c.state))
            return {state: n for state, n in rows}

    def ended_before(self, cutoff: float) -> list[str]:
        """The jobs that ended before ``cutoff`` (a time), oldest end first.

        >>> store = JobStore("sqlite://")
        >>> _ = store.create_job("j1", "q", state="CANCELLED")
        >>> store.ended_before(time.time() + 1), store.ended_before(0.0)
        (['j1'], [])
        """
        with self.engine.connect() as conn:
            return list(
                conn.scalars(
                    sa.select(jobs.c.job_id)
                    .where(jobs.c.state.in_(ENDED), jobs.c.finished_at < cutoff)
                    .order_by(jobs.c.finished_at)
                )
            )

    def delete_job(self, job_id: str) -> bool:
        """Delete a job's rows (its tasks, checkpoints, log records and itself) in one transaction; whether
        it had any.

        >>> store = JobStore("sqlite://")
        >>> _ = store.create_job("j1", "q")
        >>> store.add_task("j1/0.0/0", "j1", 0, 0, 0, "grpc://a")
        >>> store.delete_job("j1"), store.tasks("j1"), store.delete_job("j1")
        (True, [], False)
        """
        with self.engine.begin() as conn:
            for table in (tasks, checkpoints, task_logs):
                conn.execute(table.delete().where(table.c.job_id == job_id))
            return conn.execute(jobs.delete().where(jobs.c.job_id == job_id)).rowcount == 1

    def row_counts(self) -> dict[str, int]:
        """The rows of each table of the JobManager.

        >>> JobStore("sqlite://").row_counts()["jobs"]
        0
        """
        with self.engine.connect() as conn:
            return {
                t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in ALL_TABLES
            }

    # -- tasks ------------------------------------------------------------------------
    def add_task(
        self, task_id: str, job_id: str, stage: int, partition: int, attempt: int, agent: str
    ) -> None:
        """Record a task placed on ``agent`` (SCHEDULED); again for the same id: nothing."""
        self.add_tasks(job_id, stage, attempt, {partition: (task_id, agent)})

    def add_tasks(
        self,
        job_id: str,
        stage: int,
        attempt: int,
        placed: Mapping[int, tuple[str, str]],
        operator_id: str | None = None,
    ) -> None:
        """Record a stage's tasks in one transaction: ``placed`` maps each partition to its
        ``(task_id, agent)``; ``operator_id`` is the stage's last operator. Tasks recorded
        before stay as they are. A SCHEDULED job with tasks is RUNNING.

        >>> store = JobStore("sqlite://")
        >>> _ = store.create_job("j1", "q", state="SCHEDULED")
        >>> store.add_tasks("j1", 0, 0, {0: ("j1/0.0/0", "grpc://a:1")}, operator_id="filter_1")
        >>> task = store.tasks("j1")[0]
        >>> task["operator_id"], task["agent"], store.job("j1")["state"]
        ('filter_1', 'grpc://a:1', 'RUNNING')
        """
        now = time.time()
        with self._deciding() as conn:
            ids = [task_id for task_id, _ in placed.values()]
            known = set(conn.scalars(sa.select(tasks.c.task_id).where(tasks.c.task_id.in_(ids))))
            rows = [
                {
                    "task_id": task_id,
                    "job_id": job_id,
                    "stage": stage,
                    "partition": partition,
                    "attempt": attempt,
                    "operator_id": operator_id,
                    "state": TaskState.SCHEDULED.value,
                    "agent": agent,
                    "created_at": now,
                    "updated_at": now,
                }
                for partition, (task_id, agent) in placed.items()
                if task_id not in known
            ]
            if rows:
                conn.execute(tasks.insert(), rows)
            conn.execute(
                jobs.update()
                .where(jobs.c.job_id == job_id, jobs.c.state == JobState.SCHEDULED.value)
                .values(state=JobState.RUNNING.value, updated_at=now)
            )

    def set_task_state(
        self,
        task_id: str,
        state: str,
        error: str | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> None:
        """Move a task to ``state``, with its final ``metrics`` (see :data:`~sabot_lab.runtime.protocol.TASK_METRICS`)."""
        self.set_task_states([(task_id, state, error, metrics)])

    def set_task_states(
        self, changes: Iterable[tuple[str, str, str | None, Mapping[str, Any] | None]]
    ) -> None:
        """Move tasks to new states in one transaction: ``(task_id, state, error, metrics)``
        each, as :meth:`set_task_state` (the tasks of a job on 50 agents end together: one
        write, not 50).

        >>> store = JobStore("sqlite://")
        >>> _ = store.create_job("j1", "q")
        >>> store.add_tasks("j1", 0, 0, {0: ("j1/0.0/0", "grpc://a:1"), 1: ("j1/0.1/0", "grpc://b:1")})
        >>> store.set_task_states([("j1/0.1/0", "FINISHED", None, {"rows_out": 3}),
        ...                        ("j1/0.0/0", "FAILED", "boom", None)])
        >>> [(t["task_id"], t["state"], t["rows_out"]) for t in store.tasks("j1")]
        [('j1/0.0/0', 'FAILED', 0), ('j1/0.1/0', 'FINISHED', 3)]
        """
        now = time.time()
        updates = []
        for task_id, state, error, metrics in sorted(changes, key=lambda c: c[0]):
            _check(state, STATES)
            values: dict[str, Any] = {"state": state, "updated_at": now}
            if state in ENDED:
                values["completed_at"] = now
            if error is not None:
                values["error"] = error
            values.update(_metrics(metrics or {}))
            updates.append(tasks.update().where(tasks.c.task_id == task_id).values(**values))
        if not updates:
            return
        with self._deciding() as conn:  # in task order, as every writer of many tasks
            for update in updates:
                conn.execute(update)

    def record_running_tasks(self, reports: Iterable[Mapping[str, Any]]) -> None:
        """Mark the tasks an agent reported running (its heartbeat) RUNNING, with their
        metrics so far; tasks that ended keep the state and figures they ended with."""
        now = time.time()
        ordered = sorted(reports, key=lambda r: str(r["task_id"]))
        if not ordered:  # (an idle agent's heartbeat: no write transaction)
            return
        with self.engine.begin() as conn:  # in task order, as every writer of many tasks
            for report in ordered:
                conn.execute(
                    tasks.update()
                    .where(tasks.c.task_id == report["task_id"], tasks.c.state.not_in(ENDED))
                    .values(state=TaskState.RUNNING.value, updated_at=now, **_metrics(report))
                )

    def ended_tasks(self, task_ids: Iterable[str]) -> list[str]:
        """Those of ``task_ids`` recorded as ended (an agent reporting one running runs a
        task the JobManager gave up: of an attempt that failed with its agent).

        >>> store = JobStore("sqlite://")
        >>> _ = store.create_job("j1", "q")
        >>> store.add_task("j1/0.0/0", "j1", 0, 0, 0, "grpc://a:1")
        >>> store.set_task_state("j1/0.0/0", "FAILED", "agent grpc://a:1 is gone")
        >>> store.ended_tasks(["j1/0.0/0", "j1/0.0/1"])
        ['j1/0.0/0']
        """
        wanted = sorted(set(task_ids))
        if not wanted:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(tasks.c.task_id)
                .where(tasks.c.task_id.in_(wanted), tasks.c.state.in_(ENDED))
                .order_by(tasks.c.task_id)
            )
            return [task_id for (task_id,) in rows]

    def add_checkpoint(self, job_id: str, checkpoint_id: int, location: str) -> None:
        """Record that checkpoint ``checkpoint_id`` of a job was asked for (PENDING)."""
        insert = self._insert(checkpoints).on_conflict_do_nothing(
            index_elements=[checkpoints.c.job_id, checkpoints.c.checkpoint_id]
        )
        with self._deciding() as conn:
            conn.execute(
                insert.values(
                    job_id=job_id,
                    checkpoint_id=checkpoint_id,
                    state="PENDING",
                    location=location,
                    created_at=time.time(),
                )
            )

    def complete_checkpoint(
        self, job_id: str, checkpoint_id: int, size: int, discard: Iterable[int] = ()
    ) -> None:
        """Mark a checkpoint COMPLETE (every task of the job has its part, ``size`` bytes in
        all) and, in the same transaction, the ``discard`` ones DISCARDED (beyond those
        retained: their parts are removed next). No reader sees one without the other.

        >>> store = JobStore("sqlite://")
        >>> _ = store.create_job("j1", "q")
        >>> for n in (1, 2):
        ...     store.add_checkpoint("j1", n, f"/c/chk-{n}")
        >>> store.complete_checkpoint("j1", 1, 10)
        >>> store.complete_checkpoint("j1", 2, 10, discard=[1])
        >>> [c["state"] for c in store.checkpoints("j1")]
        ['DISCARDED', 'COMPLETE']
        """
        now = time.time()
        where = (checkpoints.c.job_id == job_id,)
        with self._deciding() as conn:
            conn.execute(
                sa.update(checkpoints)
                .where(*where, checkpoints.c.checkpoint_id == checkpoint_id)
                .values(state="COMPLETE", completed_at=now, bytes=size)
            )
            discarded = list(discard)
            if discarded:
                conn.execute(
                    sa.update(checkpoints)
                    .where(*where, checkpoints.c.checkpoint_id.in_(discarded))
                    .values(state="DISCARDED")
                )

    def last_checkpoints(self, ended_since: float = 0.0) -> list[dict[str, Any]]:
        """The last COMPLETE checkpoint of every job that has one and has not ended, or ended
        at ``ended_since`` or later (a time)."""
        shown = sa.select(jobs.c.job_id).where(
            jobs.c.finished_at.is_(None) | (jobs.c.finished_at >= ended_since)
        )
        last = (
            sa.select(checkpoints.c.job_id, sa.func.max(checkpoints.c.checkpoint_id).label("n"))
            .where(checkpoints.c.state != "PENDING", checkpoints.c.job_id.in_(shown))
            .group_by(checkpoints.c.job_id)
            .subquery()
        )
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(*keyed(checkpoints)).join(
                    last,
                    (checkpoints.c.job_id == last.c.job_id)
                    & (checkpoints.c.checkpoint_id == last.c.n),
                )
            )
            return [dict(r) for r in rows.mappings()]

    def recent_tasks(self, ended_since: float = 0.0) -> list[dict[str, Any]]:
        """The tasks of every job that has not ended, or ended at ``ended_since`` or later
        (a time), in job, stage, partition and attempt order.

        >>> store = JobStore("sqlite://")
        >>> _ = store.create_job("j1", "q")
        >>> store.add_tasks("j1", 0, 0, {0: ("j1/0.0/0", "grpc://a:1")})
        >>> [t["task_id"] for t in store.recent_tasks()]
        ['j1/0.0/0']
        """
        shown = sa.select(jobs.c.job_id).where(
            jobs.c.finished_at.is_(None) | (jobs.c.finished_at >= ended_since)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(*keyed(tasks))
                .where(tasks.c.job_id.in_(shown))
                .order_by(tasks.c.job_id, tasks.c.stage, tasks.c.partition, tasks.c.attempt)
            ).mappings()
            return [dict(r) for r in rows]

    def checkpoints(self, job_id: str) -> list[dict[str, Any]]:
        """A job's checkpoints, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(*keyed(checkpoints))
                .where(checkpoints.c.job_id == job_id)
                .order_by(checkpoints.c.checkpoint_id)
            )
            return [dict(r) for r in rows.mappings()]

    def tasks(self, job_id: str) -> list[dict[str, Any]]:
        """A job's tasks in stage, partition and attempt order."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(*keyed(tasks))
                .where(tasks.c.job_id == job_id)
                .order_by(tasks.c.stage, tasks.c.partition, tasks.c.attempt)
            ).mappings()
            return [dict(r) for r in rows]

    def unended_tasks_by(self, column: str = "agent") -> dict[str, int]:
        """How many placed tasks have not ended (as far as this JobManager heard), of every
        job, by ``agent`` or by ``job_id``.

        >>> store = JobStore("sqlite://")
        >>> _ = store.create_job("j1", "q")
        >>> store.add_task("j1/0.0/0", "j1", 0, 0, 0, "grpc://a:1")
        >>> store.unended_tasks_by("agent"), store.unended_tasks_by("job_id")
        ({'grpc://a:1': 1}, {'j1': 1})
        """
        key = tasks.c[column]
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(key, sa.func.count())
                .where(tasks.c.state.in_(UNENDED), tasks.c.agent.is_not(None))
                .group_by(key)
            )
            return {value: n for value, n in rows}

    def task_totals(self) -> list[dict[str, Any]]:
        """Tasks of all jobs by state: how many, and their summed metrics."""
        sums = [sa.func.coalesce(sa.func.sum(tasks.c[k]), 0).label(k) for k in TASK_METRICS]
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    tasks.c.state.label("state"), sa.func.count().label("tasks"), *sums
                ).group_by(tasks.c.state)
            ).mappings()
            return [dict(r) for r in rows]

    # -- agents -----------------------------------------------------------------------
    def upsert_agent(
        self, uri: str, state: str, slots: int, memory_bytes: int | None = None, running: int = 0
    ) -> None:
        """Register an agent (by its URI, which gives its host and port) or record its
        heartbeat.

        >>> store = JobStore("sqlite://")
        >>> store.upsert_agent("grpc://10.0.0.7:8815", "ACTIVE", slots=2)
        >>> {k: store.agents()[0][k] for k in ("uri", "host", "port", "state")}
        {'uri': 'grpc://10.0.0.7:8815', 'host': '10.0.0.7', 'port': 8815, 'state': 'ACTIVE'}
        """
        _check(state, AGENT_STATES)
        now = time.time()
        values: dict[str, Any] = {
            "state": state,
            "slots": slots,
            "running": running,
            "last_heartbeat": now,
        }
        if memory_bytes is not None:
            values["memory_bytes"] = memory_bytes
        with self._agents_writing:
            with self._agents_lock:
                known = self._agents.get(uri)
                if known and self._heartbeat_only(uri, known, values, now):
                    known.update(values)  # (the table has it within heartbeat_write_interval)
                    return
            with self.engine.begin() as conn:
                row = self._write_agent(conn, uri, known, values, now)
            with self._agents_lock:
                self._agents[uri] = row

    def _heartbeat_only(
        self, uri: str, known: Mapping[str, Any], values: Mapping[str, Any], now: float
    ) -> bool:
        """Whether ``values`` change nothing of agent ``uri`` but its last heartbeat, and
        the table's is younger than :attr:`heartbeat_write_interval`: 50 agents' heartbeats
        then cost no write (which would also hold up the submissions' transactions)."""
        unchanged = all(known.get(k) == v for k, v in values.items() if k != "last_heartbeat")
        return unchanged and now - self._written_at.get(uri, 0.0) < self.heartbeat_write_interval

    def _write_agent(
        self,
        conn: sa.Connection,
        uri: str,
        known: dict[str, Any] | None,
        values: dict[str, Any],
        now: float,
    ) -> dict[str, Any]:
        """Write agent ``uri``'s row (``known``: its mirror, None when new); return the row
        to mirror."""
        self._written_at[uri] = now
        if known:
            conn.execute(agents.update().where(agents.c.uri == uri).values(**values))
            return {**known, **values}
        host, port = agent_address(uri)
        row = {"uri": uri, "host": host, "port": port, "memory_bytes": None,
               "registered_at": now, **values}  # fmt: skip
        conn.execute(agents.insert().values(**row))
        return row

    def set_agent_state(self, uri: str, state: str) -> None:
        """Mark an agent (e.g. FAILED after a missed heartbeat)."""
        _check(state, AGENT_STATES)
        with self._agents_writing:
            with self.engine.begin() as conn:
                conn.execute(agents.update().where(agents.c.uri == uri).values(state=state))
            with self._agents_lock:
                if uri in self._agents:
                    self._agents[uri]["state"] = state

    def agent_state(self, uri: str) -> str | None:
        """The state of agent ``uri`` (from the in-memory mirror), None if it never
        registered.

        >>> store = JobStore("sqlite://")
        >>> store.upsert_agent("grpc://10.0.0.7:8815", "ACTIVE", slots=2)
        >>> store.agent_state("grpc://10.0.0.7:8815"), store.agent_state("grpc://10.0.0.8:8815")
        ('ACTIVE', None)
        """
        with self._agents_lock:
            known = self._agents.get(uri)
            return None if known is None else str(known["state"])

    def agents(self) -> list[dict[str, Any]]:
        """Every agent ever registered (from the in-memory mirror of the table)."""
        with self._agents_lock:
            return [dict(self._agents[uri]) for uri in sorted(self._agents)]


SQLITE_POOL = 32
"""Connections to a SQLite database the JobManager keeps open; more are opened (and closed
again) while more threads use it at once, up to :data:`SQLITE_CONNECTIONS`."""

SQLITE_CONNECTIONS = 128
"""Connections to a SQLite database open at most (each holds two file descriptors): a burst
of 200 submissions of small jobs on 10 agents had up to 65 open at once."""


def create_engine(url: str) -> sa.Engine:
    """An engine for the JobManager's databases (its tables, and DBOS's on SQLite).

    SQLite runs with a write-ahead log and ``synchronous=NORMAL``: a commit survives the
    JobManager being killed (only a power loss can take back the last commits) and costs
    no fsync, which keeps a durable submission to a few milliseconds. Transactions take the
    write lock when they begin (``IMMEDIATE``, as DBOS expects), and waiting writers retry
    for 30 s; the writers of this process take turns before that (see
    :mod:`.sqlite_turns`), so they do not wait in SQLite's busy handler. A database made new
    gives back the space of deleted rows (``auto_vacuum``), so its file shrinks when ended
    jobs are deleted. A thread never waits for a connection to a SQLite file (beyond
    :data:`SQLITE_POOL` one is opened for it, up to :data:`SQLITE_CONNECTIONS`): with
    SQLAlchemy's default pool of 15, under a burst of submissions each waited behind the
    running jobs' steps for one (writes wait for their :mod:`turn <.sqlite_turns>` instead,
    a submission's first).

    On PostgreSQL its sessions end when left idle inside a transaction for
    :func:`idle_session_limit` seconds: a leader cut off by the network mid-transaction
    leaves a session the server cannot tell from a slow one, and its lock on the lease row
    (a deciding write's :meth:`~.lease.LeaderLease.fence`) would stop every takeover.

    >>> create_engine("sqlite://").dialect.name
    'sqlite'
    >>> import tempfile
    >>> create_engine(f"sqlite:///{tempfile.mkdtemp()}/jobs.sqlite").pool.size()
    32
    """
    sqlite = url.startswith("sqlite:")
    connect_args = {"factory": TurnTakingConnection} if sqlite else {}
    file = sqlite and sa.make_url(url).database not in (None, "", ":memory:")
    pool = {"pool_size": SQLITE_POOL, "max_overflow": SQLITE_CONNECTIONS - SQLITE_POOL}
    engine = sa.create_engine(
        sqlalchemy_url(url), connect_args=connect_args, **(pool if file else {})
    )
    if engine.dialect.name == "postgresql":
        limit = f"-c idle_in_transaction_session_timeout={round(idle_session_limit() * 1000)}"

        @sa.event.listens_for(engine, "do_connect")
        def bound(dialect: Any, record: Any, args: Any, params: dict[str, Any]) -> None:
            params["options"] = f"{params.get('options', '')} {limit}".strip()

    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def tune(dbapi_connection: Any, _: Any) -> None:
            dbapi_connection.isolation_level = "IMMEDIATE"
            for pragma in (
                "auto_vacuum=FULL",  # (takes effect only in a database without tables yet)
                "journal_mode=WAL",
                "synchronous=NORMAL",
                "busy_timeout=30000",
                "foreign_keys=ON",
            ):
                dbapi_connection.execute(f"PRAGMA {pragma}")

    return engine


def idle_session_limit() -> float:
    """Seconds a JobManager's PostgreSQL session may stay idle inside a transaction: twice
    the leader lease's ``lease_ttl`` (a leader that paused that long has stepped down).

    >>> idle_session_limit() == 2 * get_config().cluster.lease_ttl
    True
    """
    return 2 * get_config().cluster.lease_ttl


def sqlalchemy_url(url: str) -> str:
    """``url`` with PostgreSQL's scheme naming the psycopg driver.

    >>> sqlalchemy_url("postgresql://jm@db:5432/sabot"), sqlalchemy_url("sqlite://")
    ('postgresql+psycopg://jm@db:5432/sabot', 'sqlite://')
    """
    scheme, sep, rest = url.partition("://")
    return f"postgresql+psycopg://{rest}" if scheme in ("postgresql", "postgres") and sep else url


def unreachable_database(url: str, exc: sa.exc.OperationalError) -> ClusterError:
    """The error of a database the JobManager cannot connect to: its URL (without its
    password), the driver's reason and, for an SSL failure, what to check.

    >>> error = sa.exc.OperationalError("", None, Exception("SSL error: certificate verify failed"))
    >>> print(unreachable_database("postgresql://jm:pw@db/sabot?sslmode=verify-full", error))
    cannot connect to the database postgresql://jm:***@db/sabot?sslmode=verify-full: SSL error: certificate verify failed (sslrootcert= must name the CA that signed the PostgreSQL server's certificate, and with sslmode=verify-full that certificate must name the URL's host: sabot-lab certs host NAME --dns NAME --ip ADDRESS)
    """
    shown = sa.make_url(url).render_as_string(hide_password=True)
    reason = " ".join(str(exc.orig).split())
    hint = ""
    if "ssl" in reason.lower() or "certificate" in reason.lower():
        hint = (
            " (sslrootcert= must name the CA that signed the PostgreSQL server's certificate, "
            "and with sslmode=verify-full that certificate must name the URL's host: "
            "sabot-lab certs host NAME --dns NAME --ip ADDRESS)"
        )
    return ClusterError(f"cannot connect to the database {shown}: {reason}{hint}")


def _metrics(report: Mapping[str, Any]) -> dict[str, Any]:
    keys = (*TASK_METRICS, *TASK_FIGURES, "operators", "operator_seconds")
    return {k: report[k] for k in keys if report.get(k) is not None}


def _check(state: str, allowed: tuple[str, ...]) -> None:
    if state not in allowed:
        raise ValueError(f"unknown state {state!r}; states are {', '.join(allowed)}")
