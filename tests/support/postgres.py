"""A real PostgreSQL server for tests, started with pytest-postgresql's executor from the
system's ``postgres`` binaries (the Makefile installs them when missing).

``initdb`` refuses to run as root, so under root the server runs as the ``postgres`` user:
``pg_ctl`` is called through a small ``runuser`` wrapper and the data directory belongs to
that user. Each test gets a fresh database from :meth:`PostgresServer.new_database`. Given a
certificate and its key (``ssl``), the server also accepts SSL connections.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import stat
import tempfile
import uuid
from pathlib import Path

import psycopg
from port_for import get_port
from pytest_postgresql.executors import PostgreSQLExecutor
from pytest_postgresql.janitor import DatabaseJanitor

SERVICE_USER = "postgres"


def pg_ctl_path() -> str:
    """The system's ``pg_ctl`` (on PATH, or the newest under ``/usr/lib/postgresql``)."""
    found = shutil.which("pg_ctl") or max(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(p.split("/")[-3]),
        default=None,
    )
    if found is None:
        raise RuntimeError("pg_ctl not found: install PostgreSQL (make test does it with apt)")
    return found


class PostgresServer:
    """A PostgreSQL server in a temporary directory; :meth:`stop` removes it. With ``ssl``
    (a PEM certificate and its key) it serves SSL too (``ssl=on``)."""

    def __init__(self, ssl: tuple[Path, Path] | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="sabot-postgres-"))
        executable = pg_ctl_path()
        if os.geteuid() == 0:
            executable = self._as_service_user(executable)
        options = self._ssl_options(*ssl) if ssl else ""
        self.executor = PostgreSQLExecutor(
            executable=executable,
            host="127.0.0.1",
            port=get_port(None),
            datadir=str(self.root / "data"),
            unixsocketdir=str(self.root),
            logfile=str(self.root / "postgres.log"),
            startparams="-w",
            dbname="postgres",
            user=SERVICE_USER,
            postgres_options=options,
        )
        self.executor.start()

    def _ssl_options(self, cert: Path, key: Path) -> str:
        """The server options serving SSL with copies of ``cert`` and ``key`` in :attr:`root`,
        owned by the user running the server (PostgreSQL refuses a key others can read)."""
        copies = self.root / "server.pem", self.root / "server-key.pem"
        for source, copy in zip((cert, key), copies, strict=True):
            shutil.copyfile(source, copy)
            copy.chmod(0o600)
            if os.geteuid() == 0:
                account = pwd.getpwnam(SERVICE_USER)
                os.chown(copy, account.pw_uid, account.pw_gid)
        return f"-c ssl=on -c ssl_cert_file='{copies[0]}' -c ssl_key_file='{copies[1]}'"

    def _as_service_user(self, pg_ctl: str) -> str:
        """A ``pg_ctl`` that runs as the ``postgres`` user, who also owns :attr:`root`."""
        account = pwd.getpwnam(SERVICE_USER)
        os.chown(self.root, account.pw_uid, account.pw_gid)
        self.root.chmod(0o755)
        wrapper = self.root / "pg_ctl"  # (removed with the server's files)
        wrapper.write_text(f'#!/bin/sh\nexec runuser -u {SERVICE_USER} -- {pg_ctl} "$@"\n')
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return str(wrapper)

    def new_database(self) -> str:
        """A fresh, empty database; its ``postgresql://`` URL."""
        name = f"sabot_{uuid.uuid4().hex[:12]}"
        executor = self.executor
        DatabaseJanitor(
            user=executor.user,
            host=executor.host,
            port=executor.port,
            dbname=name,
        ).init()
        return f"postgresql://{executor.user}@{executor.host}:{executor.port}/{name}"

    def stop(self) -> None:
        """Stop the server and delete its files."""
        self.executor.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def query(url: str, sql: str, *params: object) -> list[tuple[object, ...]]:
    """Rows of ``sql`` run with ``params`` on the database at ``url``."""
    with psycopg.connect(url) as conn:
        return list(conn.execute(sql, params or None).fetchall())  # type: ignore[arg-type]
