"""PostgreSQL on the ``db`` host of a virtual cluster (:mod:`cluster.netns.virtual_hosts`), as a
deployment runs it: the server runs as the ``postgres`` user inside the host's namespace,
listens on the host's address only, accepts network connections over SSL only (``hostssl``,
its certificate one of ``sabot-lab certs host``) with a password checked by SCRAM, and the
JobManagers connect with ``sslmode=verify-full`` against the cluster CA, by address.

Its files (data directory, socket directory, a copy of the certificate and key owned by
``postgres``) live in the cluster's :attr:`~VirtualCluster.workdir`, and the server is one of
the cluster's processes: both go when the cluster is torn down, also after a failure. Its
Unix socket (a file, reached from any namespace) lets this machine read the tables while a
host is cut off (:meth:`PostgresHost.local_url`).

May import the standard library and :mod:`cluster.netns.virtual_hosts`.

>>> print(pg_hba(), end="")
local all postgres peer
local all all scram-sha-256
hostssl all all 0.0.0.0/0 scram-sha-256
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
from pathlib import Path
from urllib.parse import quote

from cluster.netns.virtual_hosts import VirtualCluster

__all__ = ["SERVICE_USER", "PostgresHost", "pg_hba", "postgres_binary"]

SERVICE_USER = "postgres"
"""The account the server runs as (``initdb`` refuses root)."""
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def postgres_binary(name: str) -> str:
    """The path of PostgreSQL's program ``name`` (the newest under ``/usr/lib/postgresql``,
    else on PATH).

    >>> Path(postgres_binary("initdb")).name
    'initdb'
    """
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[-3])
    )
    path = found[-1] if found else shutil.which(name)
    if path is None:
        raise FileNotFoundError(
            f"PostgreSQL's {name} not found: install PostgreSQL (apt-get install postgresql)"
        )
    return path


def pg_hba() -> str:
    """The server's ``pg_hba.conf``: ``postgres`` over the socket as itself, everyone else
    with a password; over the network SSL only (no ``host`` line: plain connections are
    refused)."""
    return (
        f"local all {SERVICE_USER} peer\n"
        "local all all scram-sha-256\n"
        "hostssl all all 0.0.0.0/0 scram-sha-256\n"
    )


class PostgresHost:
    """PostgreSQL serving on ``host`` of ``hosts`` at ``port`` with the certificate ``cert``
    (its key ``key``) for the host's address; :meth:`start` starts it with the role ``user``
    (password :attr:`password`) owning the database ``database``."""

    def __init__(
        self,
        hosts: VirtualCluster,
        cert: Path,
        key: Path,
        host: str = "db",
        port: int = 5432,
        user: str = "sabot",
        database: str = "sabot",
    ) -> None:
        self.hosts = hosts
        self.host = host
        self.address = hosts.addresses[host]
        self.port = port
        self.user = _checked(user)
        self.database = _checked(database)
        self.password = secrets.token_urlsafe(24)
        self.root = hosts.workdir / "postgres"
        self._cert, self._key = cert, key

    def start(self, timeout: float = 120.0) -> PostgresHost:
        """Initialize the data directory, start the server and create the role and the
        database; return once it accepts connections at its address."""
        account = pwd.getpwnam(SERVICE_USER)
        self.hosts.workdir.chmod(0o711)  # (the service user passes through, lists nothing)
        for directory in (self.root, self.socket_dir):
            directory.mkdir(mode=0o700, exist_ok=True)
            os.chown(directory, account.pw_uid, account.pw_gid)
        for source, copy in ((self._cert, self.root / "server.pem"),
                             (self._key, self.root / "server-key.pem")):  # fmt: skip
            shutil.copyfile(source, copy)
            copy.chmod(0o600)  # (PostgreSQL refuses a key others can read)
            os.chown(copy, account.pw_uid, account.pw_gid)
        data = self.root / "data"
        self._as_postgres(postgres_binary("initdb"), "-D", str(data), "-U", SERVICE_USER,
                          "-E", "UTF8", "--no-sync", "--auth-local=peer",
                          "--auth-host=scram-sha-256")  # fmt: skip
        (data / "pg_hba.conf").write_text(pg_hba())
        settings = {
            "listen_addresses": self.address,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "ssl": "on",
            "ssl_cert_file": str(self.root / "server.pem"),
            "ssl_key_file": str(self.root / "server-key.pem"),
            "password_encryption": "scram-sha-256",
            "fsync": "off",  # (a test cluster: its data dies with it)
        }
        options = [arg for name, value in settings.items() for arg in ("-c", f"{name}={value}")]
        self.hosts.start(self.host, [postgres_binary("postgres"), "-D", str(data), *options],
                         port=self.port, timeout=timeout, user=SERVICE_USER)  # fmt: skip
        self.psql(f"CREATE ROLE {self.user} LOGIN PASSWORD '{self.password}'")
        self.create_database(self.database)
        return self

    @property
    def socket_dir(self) -> Path:
        """The directory of the server's Unix socket."""
        return self.root / "socket"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` as the ``postgres`` user over the socket; what ``psql`` printed."""
        return self._as_postgres(
            postgres_binary("psql"), "-h", str(self.socket_dir), "-p", str(self.port),
            "-U", SERVICE_USER, "-d", database, "-v", "ON_ERROR_STOP=1", "-Atc", sql,
        )  # fmt: skip

    def create_database(self, name: str) -> str:
        """A new database ``name`` owned by the role; its name."""
        self.psql(f"CREATE DATABASE {_checked(name)} OWNER {self.user}")
        return name

    def url(self, ca: Path, database: str | None = None) -> str:
        """The URL the JobManagers connect with: the host's address, the role's password,
        SSL with ``sslmode=verify-full`` against the CA certificate ``ca``."""
        return (
            f"postgresql://{self.user}:{quote(self.password)}@{self.address}:{self.port}/"
            f"{database or self.database}?sslmode=verify-full&sslrootcert={ca}"
        )

    def local_url(self, database: str | None = None) -> str:
        """A URL reaching the server through its Unix socket from any namespace of this
        machine (as the role, with its password): it works while the ``db`` host is cut off."""
        return (
            f"postgresql://{self.user}:{quote(self.password)}@/{database or self.database}"
            f"?host={self.socket_dir}&port={self.port}"
        )

    def _as_postgres(self, *argv: str) -> str:
        done = self.hosts.run(self.host, argv, user=SERVICE_USER, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed on {self.host}: {done.stderr.strip()}")
        return done.stdout


def _checked(name: str) -> str:
    """``name``, if it is a plain SQL identifier (it goes into SQL unquoted)."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a plain lowercase SQL name (letters, digits, _)")
    return name
