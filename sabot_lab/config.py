"""Runtime configuration: one dataclass, overridable by ``SABOT_*`` environment variables.

>>> from sabot_lab.config import Config
>>> Config(batch_size=1024).batch_size
1024
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Config", "get_config", "set_config"]


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}={raw!r} is not an integer") from exc


@dataclass(frozen=True)
class Config:
    """Settings of the in-process engine.

    Attributes:
        batch_size: rows per batch read from in-memory and file sources (``SABOT_BATCH_SIZE``).
        threads: worker threads running pipelines in parallel (``SABOT_THREADS``; default: cores).
        max_in_flight: batches a pipeline processes ahead of its consumer, per thread
            (``SABOT_MAX_IN_FLIGHT``); bounds memory of ``iter_batches``.
        state_backend: where windows and joins keep their state: ``"memory"`` or
            ``"rocksdb"`` (on disk, for state larger than memory) (``SABOT_STATE_BACKEND``).
        checkpoints_retained: COMPLETE checkpoints a JobManager keeps of each job; the parts of
            older ones are removed (``SABOT_CHECKPOINTS_RETAINED``).
        checkpoint_location: where a JobManager keeps checkpoints and savepoints (under
            ``checkpoints/`` and ``savepoints/``): a local directory, or a ``pyarrow.fs`` URI
            every agent reaches (``s3://bucket/sabot?region=...``); None: its work directory
            (``SABOT_CHECKPOINT_LOCATION``).
        progress: show a progress bar while :meth:`~sabot_lab.Stream.collect` runs, in a
            notebook or on a terminal's stderr (``SABOT_PROGRESS``; ``0`` turns it off).
        progress_delay: seconds a collect runs before its progress bar shows
            (``SABOT_PROGRESS_DELAY``), so quick ones show none.
    """

    batch_size: int = field(default_factory=lambda: _env_int("SABOT_BATCH_SIZE", 131_072))
    threads: int = field(default_factory=lambda: _env_int("SABOT_THREADS", os.cpu_count() or 1))
    max_in_flight: int = field(default_factory=lambda: _env_int("SABOT_MAX_IN_FLIGHT", 2))
    state_backend: str = field(
        default_factory=lambda: os.environ.get("SABOT_STATE_BACKEND") or "memory"
    )
    checkpoints_retained: int = field(
        default_factory=lambda: _env_int("SABOT_CHECKPOINTS_RETAINED", 3)
    )
    checkpoint_location: str | None = field(
        default_factory=lambda: os.environ.get("SABOT_CHECKPOINT_LOCATION") or None
    )
    progress: bool = field(
        default_factory=lambda: (
            os.environ.get("SABOT_PROGRESS", "1").lower() not in ("0", "false", "no", "off")
        )
    )
    progress_delay: float = field(
        default_factory=lambda: float(os.environ.get("SABOT_PROGRESS_DELAY") or 1.0)
    )

    def __post_init__(self) -> None:
        for name in ("batch_size", "threads", "max_in_flight", "checkpoints_retained"):
            if getattr(self, name) < 1:
                raise ValueError(f"Config.{name} must be >= 1, got {getattr(self, name)}")
        if self.state_backend not in ("memory", "rocksdb"):
            raise ValueError(
                f"Config.state_backend must be 'memory' or 'rocksdb', got {self.state_backend!r}"
            )

    def replace(self, **changes: Any) -> Config:
        """Return a copy with some settings changed.

        >>> Config(threads=2).replace(threads=1).threads
        1
        """
        return dataclasses.replace(self, **changes)


_current = Config()


def get_config() -> Config:
    """Return the process-wide configuration.

    >>> get_config().threads >= 1
    True
    """
    return _current


def set_config(config: Config) -> None:
    """Replace the process-wide configuration.

    >>> old = get_config(); set_config(old.replace(batch_size=4096)); get_config().batch_size
    4096
    >>> set_config(old)
    """
    global _current
    _current = config
