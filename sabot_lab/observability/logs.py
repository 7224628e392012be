"""One logging setup for every sabot-lab process, on structlog: JSON lines in the JobManager
and the agents, pretty console lines in notebooks.

sabot-lab's modules log with the standard library (``logging.getLogger("sabot_lab.agent")``);
:func:`configure_logging` makes every record (sabot-lab's, a library's, or one of a user's
structlog loggers) go through the same structlog processors: the fields bound with
:func:`structlog.contextvars.bound_contextvars` (``job_id``, ``task_id``, ``attempt``,
``agent_id``, ``stage``, bound around a task on an agent and around a job's workflow on the
JobManager), the process's own fields (:func:`set_process_fields`), the logger's name, the
level and the time; an exception's traceback becomes the record's ``error`` text.
:func:`record_fields` is the few fields of one record an agent hands its JobManager (the
task's ids travel beside them).

May import :mod:`sabot_lab.config` and structlog.

>>> import io, json, logging
>>> out = io.StringIO()
>>> configure_logging("agent", stream=out)
>>> with structlog.contextvars.bound_contextvars(job_id="j1", task_id="j1/0.0/0"):
...     logging.getLogger("sabot_lab.agent").warning("slow source")
>>> record = json.loads(out.getvalue())
>>> record["event"], record["level"], record["job_id"], record["task_id"], record["process"]
('slow source', 'warning', 'j1', 'j1/0.0/0', 'agent')
>>> reset_logging()
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from sabot_lab.config import Config, get_config

__all__ = [
    "CONSOLE_PROCESSES",
    "configure_logging",
    "record_fields",
    "reset_logging",
    "set_process_fields",
]

CONSOLE_PROCESSES = ("notebook",)
"""The processes whose records are pretty console lines (the others write JSON lines)."""

_process_fields: dict[str, Any] = {}
_installed: list[tuple[logging.Logger, logging.Handler, int]] = []
"""What :func:`configure_logging` installed: (logger, its handler, the logger's level before)."""
_lock = threading.Lock()


def set_process_fields(**fields: Any) -> None:
    """Add ``fields`` to every record this process logs from now on (e.g. an agent's
    ``agent_id`` once it knows its address).

    >>> set_process_fields(agent_id="grpc://127.0.0.1:1"); _process_fields["agent_id"]
    'grpc://127.0.0.1:1'
    >>> _process_fields.clear()
    """
    _process_fields.update(fields)


def _add_process_fields(logger: WrappedLogger, name: str, event: EventDict) -> EventDict:
    for key, value in _process_fields.items():
        event.setdefault(key, value)
    return event


def _error_text(logger: WrappedLogger, name: str, event: EventDict) -> EventDict:
    """The record's exception (``exc_info``), if any, as its ``error`` text (after an
    ``error`` given with the record)."""
    exc_info = event.pop("exc_info", None)
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, tuple) and exc_info[0] is not None:
        text = "".join(traceback.format_exception(*exc_info)).rstrip()
        given = event.get("error")
        event["error"] = f"{given}\n{text}" if given else text
    return event


def _shared_processors() -> list[Processor]:
    """What every record goes through, sabot-lab's and libraries' alike."""
    return [
        structlog.contextvars.merge_contextvars,
        _add_process_fields,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
    ]


def _formatter(console: bool) -> structlog.stdlib.ProcessorFormatter:
    renderer: Processor = (
        structlog.dev.ConsoleRenderer(colors=False, exception_formatter=_plain_error)
        if console
        else structlog.processors.JSONRenderer(default=str)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared_processors(), structlog.stdlib.ExtraAdder()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _error_text,
                    renderer],
    )  # fmt: skip


def _plain_error(stream: TextIO, exc_info: Any) -> None:  # (the console renders ``error``)
    print("".join(traceback.format_exception(*exc_info)), file=stream)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``time`` (seconds), ``level``, ``logger``, ``event`` and ``error`` (its text and
    its exception's traceback) of ``record``, as its JSON log line has them, whether it came
    from the standard library or from a structlog logger.

    >>> record = logging.LogRecord("sabot_lab.agent", logging.ERROR, "", 0, "boom %d", (1,), None)
    >>> fields = record_fields(record)
    >>> fields["event"], fields["level"], fields["logger"], fields["error"], type(fields["time"])
    ('boom 1', 'error', 'sabot_lab.agent', None, <class 'float'>)
    """
    message = record.msg
    if isinstance(message, dict):  # a structlog logger's record (its event dict)
        event = {"event": str(message.get("event")), "error": message.get("error"),
                 "exc_info": message.get("exc_info") or record.exc_info}  # fmt: skip
    else:
        event = {"event": record.getMessage(), "error": getattr(record, "error", None),
                 "exc_info": record.exc_info}  # fmt: skip
    _error_text(None, "", event)
    error = event.get("error")
    return {
        "time": record.created,
        "level": record.levelname.lower(),
        "logger": record.name,
        "event": event["event"],
        "error": None if error is None else str(error),
    }


class _RotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Rotates once the file has grown to ``maxBytes`` (the standard handler formats every
    record twice to rotate before the file would pass it)."""

    def shouldRollover(self, record: logging.LogRecord) -> int:
        if self.stream is None:
            self.stream = self._open()
        return int(0 < self.maxBytes <= self.stream.tell())


def configure_logging(
    process: str,
    config: Config | None = None,
    stream: TextIO | None = None,
) -> None:
    """Set up this process's logging once (again: replaces the setup before).

    ``process`` names it in every record (``jobmanager``, ``agent``, ``notebook``, ...). A
    notebook (:data:`CONSOLE_PROCESSES`) gets pretty console lines on standard error from
    sabot-lab's loggers only (the user's own logging stays as it was, and sees them too);
    any other process
    writes JSON lines from every logger, to ``config.cluster.log_file`` (rotated once it has
    grown to ``log_file_bytes``, keeping ``log_file_backups``) or else ``stream`` (default: standard
    error), and logs Python's warnings and uncaught exceptions there too. ``config``: the
    process's by default.
    """
    cluster = (config or get_config()).cluster
    console = process in CONSOLE_PROCESSES
    handler: logging.Handler
    if cluster.log_file and not console:
        path = Path(cluster.log_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = _RotatingFileHandler(
            path, maxBytes=cluster.log_file_bytes, backupCount=cluster.log_file_backups,
            encoding="utf-8",
        )  # fmt: skip
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_formatter(console))
    level = cluster.log_level.upper()
    target = logging.getLogger("sabot_lab" if console else None)
    with _lock:
        _uninstall()
        set_process_fields(process=process)
        _installed.append((target, handler, target.level))
        target.addHandler(handler)
        target.setLevel(level)
    structlog.configure(
        processors=[*_shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    if not console:
        logging.captureWarnings(True)
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_thread_uncaught


def _uninstall() -> None:
    for logger, handler, level in _installed:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()
    _installed.clear()


def reset_logging() -> None:
    """Undo :func:`configure_logging` (for tests and doctests).

    >>> configure_logging("agent"); reset_logging(); _installed, _process_fields
    ([], {})
    """
    with _lock:
        _uninstall()
        _process_fields.clear()
    structlog.reset_defaults()
    logging.captureWarnings(False)
    sys.excepthook = sys.__excepthook__
    threading.excepthook = threading.__excepthook__


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    logging.getLogger("sabot_lab").critical("uncaught exception", exc_info=(kind, exc, tb))


def _log_thread_uncaught(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    exc_info = (args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)
    logging.getLogger("sabot_lab").critical("uncaught exception in thread %s", name,
                                            exc_info=exc_info)  # fmt: skip
