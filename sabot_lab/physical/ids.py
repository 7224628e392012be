"""The ids of a job's physical parts: producers, task attempts, attempt scopes, result
exchanges. This is the only module that formats and parses them; everything else (the agents,
the JobManager, the checkpoints) goes through these types.

May import nothing of sabot_lab but ``errors``.

>>> task = TaskId("j1", ProducerId(1, 0), 2)
>>> str(task), TaskId.parse("j1/1.0/2") == task, task.scope
('j1/1.0/2', True, 'j1/2')
>>> task.belongs_to("j1"), TaskId.parse("j10/1.0/2").belongs_to("j1")
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass

from sabot_lab.errors import ClusterError

__all__ = [
    "RESULT",
    "ProducerId",
    "TaskId",
    "attempt_scope",
    "in_job",
    "is_result_exchange",
    "job_of",
    "result_exchange",
]

RESULT = "result"
"""The exchange a job's last stage writes its result rows to."""


@dataclass(frozen=True, order=True)
class ProducerId:
    """A task's name among the producers of its stage's exchanges: ``stage.partition``
    (stable over attempts; checkpoint parts are kept under it).

    >>> str(ProducerId(0, 3)), ProducerId.parse("0.3")
    ('0.3', ProducerId(stage=0, partition=3))
    """

    stage: int
    partition: int

    def __str__(self) -> str:
        return f"{self.stage}.{self.partition}"

    @staticmethod
    def parse(text: str) -> ProducerId:
        """The producer named ``text`` (``stage.partition``)."""
        stage, dot, partition = text.partition(".")
        if not (dot and stage.isdigit() and partition.isdigit()):
            raise ClusterError(f"{text!r} is not a producer id (stage.partition)")
        return ProducerId(int(stage), int(partition))


@dataclass(frozen=True, order=True)
class TaskId:
    """One attempt of one task of a job: ``job/stage.partition/attempt``.

    >>> TaskId.parse("j1/0.1/0").producer
    ProducerId(stage=0, partition=1)
    >>> TaskId.parse("j1/0.1")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ClusterError: 'j1/0.1' is not a task id (job/stage.partition/attempt)
    """

    job_id: str
    producer: ProducerId
    attempt: int

    def __str__(self) -> str:
        return f"{self.job_id}/{self.producer}/{self.attempt}"

    @staticmethod
    def parse(text: str) -> TaskId:
        """The task attempt named ``text``."""
        parts = text.split("/")
        if len(parts) != 3 or not parts[0] or not parts[2].isdigit():
            raise ClusterError(f"{text!r} is not a task id (job/stage.partition/attempt)")
        return TaskId(parts[0], ProducerId.parse(parts[1]), int(parts[2]))

    @property
    def scope(self) -> str:
        """Where this attempt's exchange rows are kept on agents (:func:`attempt_scope`)."""
        return attempt_scope(self.job_id, self.attempt)

    def belongs_to(self, job_id: str) -> bool:
        """Whether this is a task of job ``job_id``."""
        return self.job_id == job_id


def job_of(name: str) -> str:
    """The job a task id or an attempt scope (:func:`attempt_scope`) names.

    >>> job_of("j1/0.1/2"), job_of(attempt_scope("j1", 2)), job_of("j1")
    ('j1', 'j1', 'j1')
    """
    return name.split("/", 1)[0]


def in_job(task_id: str, job_id: str) -> bool:
    """Whether the task (attempt) named ``task_id``, or an attempt scope, belongs to job
    ``job_id``.

    >>> in_job("j1/0.0/0", "j1"), in_job("j12/0.0/0", "j1"), in_job("j1/2", "j1")
    (True, False, True)
    """
    return job_of(task_id) == job_id


def attempt_scope(job_id: str, attempt: int) -> str:
    """The name agents keep one attempt's exchange rows under (and ``in_job`` recognizes).

    >>> attempt_scope("j1", 2), in_job(attempt_scope("j1", 2), "j1")
    ('j1/2', True)
    """
    return f"{job_id}/{attempt}"


def result_exchange(epoch: int | None = None) -> str:
    """The exchange of a job's result rows; with checkpoints, those of one epoch (the rows
    after barrier ``epoch - 1`` and before barrier ``epoch``).

    >>> result_exchange(), result_exchange(3), is_result_exchange("result/3")
    ('result', 'result/3', True)
    """
    return RESULT if epoch is None else f"{RESULT}/{epoch}"


def is_result_exchange(exchange_id: str) -> bool:
    """Whether ``exchange_id`` carries result rows (of the whole job, or of one epoch).

    >>> is_result_exchange("result"), is_result_exchange("x1")
    (True, False)
    """
    return exchange_id.split("/", 1)[0] == RESULT
