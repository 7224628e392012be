"""Settings of sabot-lab: one :class:`Config` of three sections, and one loader for the
``SABOT_*`` environment variables.

Each setting has its default in its section's dataclass (:class:`EngineConfig`,
:class:`ClusterConfig`, :class:`NotebookConfig`) and its variable in :data:`ENVIRONMENT`;
:meth:`Config.from_env` reads them. The process-wide configuration (:func:`get_config`) starts
as ``Config.from_env(os.environ)``. Credentials (``SABOT_TOKEN``, ``SABOT_TLS_CA``) are no
settings: :class:`~sabot_lab.runtime.transport.Credentials` reads them.

This module imports only the standard library.

>>> from sabot_lab.config import Config
>>> config = Config(batch_size=1024)
>>> config.engine.batch_size, config.cluster.heartbeat_timeout
(1024, 10.0)
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "COMPRESSIONS",
    "ENVIRONMENT",
    "LOG_LEVELS",
    "MEMORY_POOLS",
    "ClusterConfig",
    "Config",
    "EngineConfig",
    "NotebookConfig",
    "Variable",
    "check_schema_name",
    "get_config",
    "set_config",
]


_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
"""A SQL name that needs no quotes (of a PostgreSQL schema)."""


def check_schema_name(schema: str) -> str:
    """``schema`` if it is a PostgreSQL schema name sabot-lab accepts (lowercase letters,
    digits and underscores, not starting with a digit); ValueError otherwise.

    >>> check_schema_name("sabot")
    'sabot'
    >>> check_schema_name("Sabot-1")
    Traceback (most recent call last):
    ...
    ValueError: database schema 'Sabot-1' is not a plain SQL name: use lowercase letters, digits and underscores (e.g. sabot)
    """
    if not _PLAIN_NAME.fullmatch(schema):
        raise ValueError(
            f"database schema {schema!r} is not a plain SQL name: use lowercase letters, "
            "digits and underscores (e.g. sabot)"
        )
    return schema


COMPRESSIONS = ("none", "lz4", "zstd")
"""Arrow IPC compression codecs of an agent's shuffle streams and spill files."""

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
"""The levels of log records, least severe first (``Config.log_level`` is one of them)."""


def _at_least_one(section: object, *names: str) -> None:
    """Raise ValueError unless each setting ``names`` of ``section`` is >= 1."""
    for name in names:
        if getattr(section, name) < 1:
            raise ValueError(f"Config.{name} must be >= 1, got {getattr(section, name)}")


MEMORY_POOLS = ("system", "mimalloc", "jemalloc")
"""The Arrow allocators :attr:`EngineConfig.memory_pool` names."""


@dataclass(frozen=True)
class EngineConfig:
    """Settings of the in-process engine.

    Attributes:
        batch_size: rows per batch read from in-memory and file sources.
        threads: worker threads running pipelines in parallel (default: the cores).
        max_in_flight: batches a pipeline processes ahead of its consumer, per thread; bounds
            the memory of ``iter_batches``.
        state_backend: where windows and joins keep their state: ``"memory"`` or
            ``"rocksdb"`` (on disk, for state larger than memory).
        memory_pool: the Arrow allocator of the process while the engine runs, one of
            :data:`MEMORY_POOLS`: ``"jemalloc"`` (keeps freed memory for the next batch,
            in caches per thread; the C library's where pyarrow is built without it),
            ``"system"`` (the C library's ``malloc``: as fast on TPC-H, a quarter more CPU
            on a Parquet file's scan whose reader's threads allocate what the engine's
            workers free) or ``"mimalloc"`` (pyarrow's default, which gives freed pages back
            to the system and faults them in again: up to a fifth more CPU over the 22 TPC-H
            queries). Pyarrow's own ``ARROW_DEFAULT_MEMORY_POOL`` environment variable, when
            set, wins.
        memory_map: read local Parquet files through memory maps: their pages are decoded
            where the operating system's cache holds them, not copied into new buffers
            first (TPC-H's scans at scale 1 use about a sixth less CPU). A file cut shorter
            in place while it is read ends the process (``SIGBUS``): write a new file and
            rename it over the old one, as sabot-lab's writers do, or set this off for
            files that other programs rewrite in place.

    >>> EngineConfig(threads=2).max_in_flight
    2
    """

    batch_size: int = 131_072
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    max_in_flight: int = 2
    state_backend: str = "memory"
    memory_pool: str = "jemalloc"
    memory_map: bool = True

    def __post_init__(self) -> None:
        _at_least_one(self, "batch_size", "threads", "max_in_flight")
        if self.memory_pool not in MEMORY_POOLS:
            raise ValueError(
                f"Config.memory_pool must be one of {', '.join(MEMORY_POOLS)}, "
                f"got {self.memory_pool!r}"
            )
        if self.state_backend not in ("memory", "rocksdb"):
            raise ValueError(
                f"Config.state_backend must be 'memory' or 'rocksdb', got {self.state_backend!r}"
            )


@dataclass(frozen=True)
class ClusterConfig:
    """Settings of a cluster's JobManager and agents.

    Attributes:
        heartbeat_interval: seconds between an agent's heartbeats to its JobManager.
        heartbeat_timeout: seconds without a heartbeat after which the JobManager marks an
            agent FAILED.
        drain_timeout: seconds an agent stopped with SIGTERM gives its running tasks to finish.
        shuffle_memory: bytes of shuffle rows an agent keeps in memory before spilling to disk.
        checkpoints_retained: COMPLETE checkpoints a JobManager keeps of each job; the parts of
            older ones are removed.
        checkpoint_location: where a JobManager keeps checkpoints and savepoints (under
            ``checkpoints/`` and ``savepoints/``): a local directory, or a ``pyarrow.fs`` URI
            every agent reaches (``s3://bucket/sabot?region=...``); None: its work directory.
        database_url: the ``postgresql://`` URL of the JobManager's databases; None: SQLite
            files in its work directory. Left out of the repr (it may hold a password).
        agent_slots: tasks an agent runs at once.
        shuffle_compression: the IPC compression of an agent's shuffle streams and spill
            files, one of :data:`COMPRESSIONS`.
        max_parallelism: the most tasks a JobManager runs one operator as; a job asking for
            more is refused when submitted.
        task_rows: the fewest rows (estimated, of its largest operator) each task of a
            bounded job submitted without ``partitions`` gets: a smaller job runs as fewer
            tasks than the slots (one, under this many rows).
        placement_timeout: seconds a job waits for free task slots (slots other jobs' tasks
            hold, an unbounded job's for as long as it runs) before it fails saying so; its
            status says what it waits for meanwhile.
        http_idle_timeout: seconds the JobManager's HTTP endpoint waits for a request's
            headers (on a new or kept-alive connection) before it closes the connection.
        http_max_connections: connections the HTTP endpoint keeps open at once; it closes
            new ones beyond them.
        http_threads: threads answering the HTTP endpoint's requests (database reads).
        dashboard_code_ttl: seconds a one-time dashboard link (``cluster.dashboard_link``)
            stays valid.
        dashboard_session_ttl: seconds the browser session a dashboard link opens lasts.
        result_ttl: seconds a JobManager keeps an ended job (finished, failed or cancelled)
            after it ended: its result, its rows and what is left of its checkpoints; then
            the job is deleted as by ``Job.delete()``. ``0``: deleted at the next sweep after
            it ends (fetch its result in time); None (``SABOT_RESULT_TTL=none``): kept until
            deleted. Savepoints are never deleted.
        retention_interval: seconds between a JobManager's sweeps for jobs past
            ``result_ttl``.
        inline_table_bytes: an in-memory table (``from_arrow``, ``from_pandas``,
            ``from_pydict``) a job reads travels inside its plan when smaller than this;
            larger ones are uploaded to the cluster once and the plan names them by id.
        spill_limit: bytes of spill files an agent keeps on disk (under its work directory);
            a job whose shuffle rows would pass it fails, naming this setting.
        database_schema: the PostgreSQL schema of the JobManager's tables (``jobs``,
            ``tasks``, ``agents``, ``checkpoints``), created when missing; DBOS keeps its
            own tables in its own schema. SQLite files have no schemas.
        log_level: the least level of the records a process logs (``DEBUG``, ``INFO``,
            ``WARNING``, ``ERROR``), its log file's and its jobs' (``Job.logs()``).
        log_file: the file a JobManager or an agent writes its records to, one JSON object a
            line (a ``LocalCluster`` gives each process its own, in its work directory);
            None: its standard error.
        log_file_bytes: bytes a log file grows to before it is rotated (renamed ``.1``, the
            older ones ``.2``, ...).
        log_file_backups: rotated log files kept besides the current one.
        task_log_records: records of each task a JobManager keeps for ``Job.logs()`` (the
            last ones; an agent holds as many until the JobManager collects them).
        lease_ttl: seconds the leader lease of JobManagers sharing one PostgreSQL database
            lasts without a renewal: a standby takes over that long after the leader died or
            lost the database (the leader steps down a second before).
        lease_renew_interval: seconds between the leader's renewals of its lease (and a
            standby's looks at it).
        advertise_host: the address (or name) other hosts reach a JobManager or an agent at
            (``--advertise-host``); None: the one it listens on, or, listening on every
            interface (``0.0.0.0``, ``::``), an address of its own it finds (see
            :mod:`sabot_lab.runtime.addresses`).

    >>> ClusterConfig().heartbeat_interval
    2.0
    """

    heartbeat_interval: float = 2.0
    heartbeat_timeout: float = 10.0
    drain_timeout: float = 30.0
    shuffle_memory: int = 1 << 30
    checkpoints_retained: int = 3
    checkpoint_location: str | None = None
    database_url: str | None = field(default=None, repr=False)
    agent_slots: int = 2
    shuffle_compression: str = "none"
    max_parallelism: int = 128
    task_rows: int = 1000
    placement_timeout: float = 600.0
    http_idle_timeout: float = 30.0
    http_max_connections: int = 512
    http_threads: int = 4
    dashboard_code_ttl: float = 60.0
    dashboard_session_ttl: float = 12 * 3600.0
    result_ttl: float | None = 24 * 3600.0
    retention_interval: float = 60.0
    inline_table_bytes: int = 64 << 10
    spill_limit: int = 16 << 30
    database_schema: str = "sabot"
    log_level: str = "INFO"
    log_file: str | None = None
    log_file_bytes: int = 64 << 20
    log_file_backups: int = 5
    task_log_records: int = 1000
    lease_ttl: float = 4.0
    lease_renew_interval: float = 1.0
    advertise_host: str | None = None

    def __post_init__(self) -> None:
        _at_least_one(
            self,
            "agent_slots",
            "checkpoints_retained",
            "shuffle_memory",
            "max_parallelism",
            "task_rows",
            "http_max_connections",
            "http_threads",
            "log_file_bytes",
            "task_log_records",
        )
        check_schema_name(self.database_schema)
        if self.log_level.upper() not in LOG_LEVELS:
            raise ValueError(
                f"Config.log_level must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}"
            )
        if self.log_file_backups < 0:
            raise ValueError(f"Config.log_file_backups must be >= 0, got {self.log_file_backups}")
        if self.shuffle_compression not in COMPRESSIONS:
            raise ValueError(
                f"Config.shuffle_compression must be one of {', '.join(COMPRESSIONS)}, "
                f"got {self.shuffle_compression!r}"
            )
        seconds = ("heartbeat_interval", "heartbeat_timeout", "http_idle_timeout")
        if not 0 < 2 * self.lease_renew_interval <= self.lease_ttl:
            raise ValueError(
                "Config.lease_ttl must be at least twice Config.lease_renew_interval (> 0), got "
                f"{self.lease_ttl} and {self.lease_renew_interval}"
            )
        for name in (*seconds, "retention_interval", "dashboard_code_ttl", "dashboard_session_ttl"):
            if getattr(self, name) <= 0:
                raise ValueError(f"Config.{name} must be > 0, got {getattr(self, name)}")
        for name in ("drain_timeout", "placement_timeout", "result_ttl", "spill_limit"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ValueError(f"Config.{name} must be >= 0, got {value}")


@dataclass(frozen=True)
class NotebookConfig:
    """Settings of what a notebook or a terminal shows.

    Attributes:
        progress: show a progress bar while :meth:`~sabot_lab.Stream.collect` runs, in a
            notebook or on a terminal's stderr.
        progress_delay: seconds a collect runs before its progress bar shows, so quick ones
            show none.

    >>> NotebookConfig(progress=False).progress_delay
    1.0
    """

    progress: bool = True
    progress_delay: float = 1.0


_SECTIONS: dict[str, type[Any]] = {
    "engine": EngineConfig,
    "cluster": ClusterConfig,
    "notebook": NotebookConfig,
}
_SECTION_OF: dict[str, str] = {
    f.name: section for section, kind in _SECTIONS.items() for f in dataclasses.fields(kind)
}


@dataclass(frozen=True, init=False)
class Config:
    """All settings, by section: ``config.engine``, ``config.cluster``, ``config.notebook``.

    Build one from sections, from settings by name (each name belongs to one section), or
    both; what is not given has its default (not its environment variable: that is
    :meth:`from_env`'s job).

    >>> config = Config(threads=1, progress=False)
    >>> config.engine.threads, config.notebook.progress, config.engine.batch_size
    (1, False, 131072)
    >>> Config(engine=EngineConfig(batch_size=10)).engine.batch_size
    10
    >>> Config(batch_sise=10)
    Traceback (most recent call last):
    ...
    TypeError: Config has no setting 'batch_sise'
    """

    engine: EngineConfig
    cluster: ClusterConfig
    notebook: NotebookConfig

    def __init__(
        self,
        engine: EngineConfig | None = None,
        cluster: ClusterConfig | None = None,
        notebook: NotebookConfig | None = None,
        **settings: Any,
    ) -> None:
        sections: dict[str, Any] = {"engine": engine, "cluster": cluster, "notebook": notebook}
        changes: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
        for name, value in settings.items():
            if name not in _SECTION_OF:
                raise TypeError(f"Config has no setting {name!r}")
            changes[_SECTION_OF[name]][name] = value
        for name, kind in _SECTIONS.items():
            section = sections[name] if sections[name] is not None else kind()
            if changes[name]:
                section = dataclasses.replace(section, **changes[name])
            object.__setattr__(self, name, section)

    def replace(self, **changes: Any) -> Config:
        """Return a copy with some settings (by name) or whole sections changed.

        >>> Config(threads=2).replace(threads=1).engine.threads
        1
        >>> Config().replace(notebook=NotebookConfig(progress=False)).notebook.progress
        False
        """
        sections = {"engine": self.engine, "cluster": self.cluster, "notebook": self.notebook}
        return Config(**{**sections, **changes})

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Config:
        """The defaults, overridden by the variables of :data:`ENVIRONMENT` set in ``environ``
        (an empty one counts as unset); a bad value raises ValueError naming its variable.

        >>> Config.from_env({"SABOT_BATCH_SIZE": "64", "SABOT_PROGRESS": "off"}).engine.batch_size
        64
        >>> Config.from_env({"SABOT_THREADS": "many"})
        Traceback (most recent call last):
        ...
        ValueError: environment variable SABOT_THREADS='many' is not an integer
        """
        config = cls()
        for name, variable in ENVIRONMENT.items():
            raw = environ.get(name)
            if not raw:
                continue
            value = variable.parse(name, raw)
            try:
                config = config.replace(**{variable.setting: value})
            except ValueError as exc:
                raise ValueError(f"environment variable {name}={raw!r}: {exc}") from None
        return config


def _integer(name: str, raw: str) -> int:
    """``raw`` as an integer.

    >>> _integer("SABOT_BATCH_SIZE", "12")
    12
    """
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not an integer") from None


def _number(name: str, raw: str) -> float:
    """``raw`` as a number of seconds.

    >>> _number("SABOT_PROGRESS_DELAY", "0.5")
    0.5
    """
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not a number") from None


def _seconds_or_none(name: str, raw: str) -> float | None:
    """``raw`` as a number of seconds, or None for ``none``, ``off`` or ``never`` (any case).

    >>> _seconds_or_none("SABOT_RESULT_TTL", "3600"), _seconds_or_none("SABOT_RESULT_TTL", "None")
    (3600.0, None)
    """
    return None if raw.lower() in ("none", "off", "never") else _number(name, raw)


def _text(name: str, raw: str) -> str:
    """``raw`` as it is.

    >>> _text("SABOT_STATE_BACKEND", "rocksdb")
    'rocksdb'
    """
    return raw


def _switch(name: str, raw: str) -> bool:
    """``raw`` as on or off: ``0``, ``false``, ``no`` and ``off`` (any case) are off.

    >>> _switch("SABOT_PROGRESS", "Off"), _switch("SABOT_PROGRESS", "1")
    (False, True)
    """
    return raw.lower() not in ("0", "false", "no", "off")


@dataclass(frozen=True)
class Variable:
    """An environment variable: the setting it overrides and the parser of its text, which
    takes the variable's name (for its error message) and its text."""

    setting: str
    parse: Callable[[str, str], Any]


ENVIRONMENT: dict[str, Variable] = {
    "SABOT_BATCH_SIZE": Variable("batch_size", _integer),
    "SABOT_THREADS": Variable("threads", _integer),
    "SABOT_MAX_IN_FLIGHT": Variable("max_in_flight", _integer),
    "SABOT_STATE_BACKEND": Variable("state_backend", _text),
    "SABOT_MEMORY_POOL": Variable("memory_pool", _text),
    "SABOT_MEMORY_MAP": Variable("memory_map", _switch),
    "SABOT_HEARTBEAT_INTERVAL": Variable("heartbeat_interval", _number),
    "SABOT_HEARTBEAT_TIMEOUT": Variable("heartbeat_timeout", _number),
    "SABOT_LEASE_TTL": Variable("lease_ttl", _number),
    "SABOT_LEASE_RENEW_INTERVAL": Variable("lease_renew_interval", _number),
    "SABOT_DRAIN_TIMEOUT": Variable("drain_timeout", _number),
    "SABOT_SHUFFLE_MEMORY": Variable("shuffle_memory", _integer),
    "SABOT_CHECKPOINTS_RETAINED": Variable("checkpoints_retained", _integer),
    "SABOT_CHECKPOINT_LOCATION": Variable("checkpoint_location", _text),
    "SABOT_DATABASE_URL": Variable("database_url", _text),
    "SABOT_DATABASE_SCHEMA": Variable("database_schema", _text),
    "SABOT_AGENT_SLOTS": Variable("agent_slots", _integer),
    "SABOT_SHUFFLE_COMPRESSION": Variable("shuffle_compression", _text),
    "SABOT_MAX_PARALLELISM": Variable("max_parallelism", _integer),
    "SABOT_TASK_ROWS": Variable("task_rows", _integer),
    "SABOT_PLACEMENT_TIMEOUT": Variable("placement_timeout", _number),
    "SABOT_HTTP_IDLE_TIMEOUT": Variable("http_idle_timeout", _number),
    "SABOT_HTTP_MAX_CONNECTIONS": Variable("http_max_connections", _integer),
    "SABOT_HTTP_THREADS": Variable("http_threads", _integer),
    "SABOT_DASHBOARD_CODE_TTL": Variable("dashboard_code_ttl", _number),
    "SABOT_DASHBOARD_SESSION_TTL": Variable("dashboard_session_ttl", _number),
    "SABOT_ADVERTISE_HOST": Variable("advertise_host", _text),
    "SABOT_RESULT_TTL": Variable("result_ttl", _seconds_or_none),
    "SABOT_RETENTION_INTERVAL": Variable("retention_interval", _number),
    "SABOT_INLINE_TABLE_BYTES": Variable("inline_table_bytes", _integer),
    "SABOT_SPILL_LIMIT": Variable("spill_limit", _integer),
    "SABOT_LOG_LEVEL": Variable("log_level", _text),
    "SABOT_LOG_FILE": Variable("log_file", _text),
    "SABOT_LOG_FILE_BYTES": Variable("log_file_bytes", _integer),
    "SABOT_LOG_FILE_BACKUPS": Variable("log_file_backups", _integer),
    "SABOT_TASK_LOG_RECORDS": Variable("task_log_records", _integer),
    "SABOT_PROGRESS": Variable("progress", _switch),
    "SABOT_PROGRESS_DELAY": Variable("progress_delay", _number),
}
"""Each setting's environment variable, read by :meth:`Config.from_env`."""

_current = Config.from_env(os.environ)


def get_config() -> Config:
    """Return the process-wide configuration.

    >>> get_config().engine.threads >= 1
    True
    """
    return _current


def set_config(config: Config) -> None:
    """Replace the process-wide configuration.

    >>> old = get_config(); set_config(old.replace(batch_size=4096)); get_config().engine.batch_size
    4096
    >>> set_config(old)
    """
    global _current
    _current = config
