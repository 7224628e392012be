"""``sabot-lab certs`` and mutual TLS across real processes: the CA and host certificates it
writes verify with ``cryptography`` and ``openssl``; a cluster whose servers verify their
clients runs a job (with a shuffle between agents) equal to DuckDB and refuses clients without
a certificate of its CA; an agent with a certificate of another CA, or not trusting the
JobManager's, exits with one line naming the cause and the fix; a JobManager that does not
trust its agents' certificates fails the job with that cause, not "agents kept failing"; and
a JobManager keeps its jobs in PostgreSQL over SSL with ``sslmode=verify-full``."""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pyarrow as pa
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.errors import TlsError
from sabot_lab.runtime.transport import Credentials, ServerTls
from tests.support.postgres import PostgresServer
from tests.support.reference import assert_same_rows, duckdb_table
from tests.support.tls import Echo, self_signed_certificate

TOKEN = secrets.token_urlsafe(32)
CLUSTER_TOKEN = secrets.token_urlsafe(32)
TOKENS = {"SABOT_TOKEN": TOKEN, "SABOT_CLUSTER_TOKEN": CLUSTER_TOKEN}
CREDENTIAL_VARIABLES = (
    "SABOT_TOKEN", "SABOT_CLUSTER_TOKEN", "SABOT_READ_TOKEN",
    "SABOT_TLS_CA", "SABOT_TLS_CERT", "SABOT_TLS_KEY",
)  # fmt: skip


def sabot_lab(
    *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a ``sabot-lab`` command to its end."""
    return subprocess.run(
        [sys.executable, "-m", "sabot_lab.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=env or dict(os.environ),
        timeout=120,
    )


def environment(**variables: str | Path) -> dict[str, str]:
    """This process's environment without credentials, with ``variables``."""
    clean = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES}
    return {**clean, **{k: str(v) for k, v in variables.items()}}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Made with the command line: CAs ``ca`` and ``other-ca``; hosts ``node`` (localhost,
    127.0.0.1) signed by ``ca``, ``stranger`` by ``other-ca``."""
    root = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "other-ca"):
        assert sabot_lab("certs", "ca", "--out", root / ca).returncode == 0
    for name, ca in (("node", "ca"), ("stranger", "other-ca")):
        made = sabot_lab(
            "certs", "host", name, "--ca", root / ca, "--out", root / "hosts",
            "--dns", "localhost", "--ip", "127.0.0.1",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
    return root


def host_files(pki: Path, name: str) -> tuple[Path, Path]:
    return pki / "hosts" / f"{name}.pem", pki / "hosts" / f"{name}-key.pem"


# -- sabot-lab certs ---------------------------------------------------------------------


def test_certs_writes_a_ca_and_host_certificates_that_verify(tmp_path: Path) -> None:
    made = sabot_lab("certs", "ca", "--out", tmp_path / "ca")
    assert made.returncode == 0, made.stderr
    assert f"SABOT_TLS_CA={tmp_path / 'ca' / 'ca.pem'}" in made.stdout
    assert "sabot-lab certs host NAME" in made.stdout  # the next command
    made = sabot_lab(
        "certs", "host", "agent1", "--ca", tmp_path / "ca", "--out", tmp_path / "hosts",
        "--dns", "agent1.cluster.internal", "--ip", "10.0.0.7", "--ip", "::1",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    cert_file, key_file = tmp_path / "hosts" / "agent1.pem", tmp_path / "hosts" / "agent1-key.pem"
    assert str(cert_file) in made.stdout and str(key_file) in made.stdout
    assert "sabot-lab agent" in made.stdout and "--tls-cert" in made.stdout
    for key in (key_file, tmp_path / "ca" / "ca-key.pem"):
        assert key.stat().st_mode & 0o777 == 0o600

    openssl = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tmp_path / "ca" / "ca.pem"), str(cert_file)],
        capture_output=True,
        text=True,
    )
    assert openssl.stdout.strip() == f"{cert_file}: OK", openssl.stderr
    for purpose in ("sslserver", "sslclient"):  # both ends of mutual TLS
        checked = subprocess.run(
            ["openssl", "verify", "-purpose", purpose, "-CAfile", str(tmp_path / "ca" / "ca.pem"),
             str(cert_file)],
            capture_output=True, text=True,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stderr

    ca = x509.load_pem_x509_certificate((tmp_path / "ca" / "ca.pem").read_bytes())
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    cert.verify_directly_issued_by(ca)  # raises unless the CA's key signed it
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["agent1", "agent1.cluster.internal"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.7", "::1"]
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert 300 <= lifetime.days <= 398


def test_certs_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    assert sabot_lab("certs", "ca", "--out", tmp_path).returncode == 0
    first = (tmp_path / "ca.pem").read_bytes()
    again = sabot_lab("certs", "ca", "--out", tmp_path)
    assert again.returncode == 1
    assert again.stderr.strip() == (
        f"sabot-lab certs: error: {tmp_path / 'ca.pem'} exists: pass --force to replace it "
        "(and the certificates it signed stop being trusted)"
    )
    assert (tmp_path / "ca.pem").read_bytes() == first
    assert sabot_lab("certs", "ca", "--out", tmp_path, "--force").returncode == 0
    assert (tmp_path / "ca.pem").read_bytes() != first
    assert (tmp_path / "ca-key.pem").stat().st_mode & 0o777 == 0o600


# -- a cluster with mutual TLS -----------------------------------------------------------


def random_table(rows: int, seed: int) -> pa.Table:
    """Keys and values with nulls among them."""
    rng = random.Random(seed)
    keys = [None if rng.random() < 0.1 else rng.randrange(40) for _ in range(rows)]
    values = [None if rng.random() < 0.1 else rng.uniform(-1e3, 1e3) for _ in range(rows)]
    return pa.table({"k": pa.array(keys, pa.int64()), "x": pa.array(values, pa.float64())})


@pytest.fixture(scope="module")
def mtls_cluster(pki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sl.LocalCluster]:
    cert, key = host_files(pki, "node")
    with sl.LocalCluster(
        agents=2,
        slots=1,
        workdir=tmp_path_factory.mktemp("mtls-cluster"),
        tls_cert=cert,
        tls_key=key,
        tls_ca=pki / "ca" / "ca.pem",
        tls_verify_client=True,
        heartbeat_interval=0.3,
    ) as cluster:
        yield cluster


def test_a_cluster_with_mutual_tls_runs_a_job_equal_to_duckdb(
    mtls_cluster: sl.LocalCluster,
) -> None:
    """Every call verifies both ends: client to JobManager, JobManager to agents, agents to
    the JobManager and to each other (the group-by's shuffle)."""
    assert mtls_cluster.uri.startswith("grpc+tls://")
    table = random_table(20_000, seed=24)
    stream = sl.from_arrow(table).group_by("k").agg(total=col("x").sum(), n=col("x").count())
    job = stream.submit(mtls_cluster)
    expected = duckdb_table("SELECT k, SUM(x) AS total, COUNT(x) AS n FROM t GROUP BY k", t=table)
    assert_same_rows(job.result(timeout=120), expected, rel=1e-9)
    assert {t["agent"] for t in job.tasks()} == set(mtls_cluster.agent_uris)


def test_a_cluster_with_mutual_tls_refuses_clients_without_its_certificates(
    mtls_cluster: sl.LocalCluster, pki: Path
) -> None:
    uri, ca = mtls_cluster.uri, str(pki / "ca" / "ca.pem")
    with pytest.raises(TlsError, match=r"requires a client certificate .*SABOT_TLS_CERT"):
        sl.connect(uri, token=mtls_cluster.token, tls_ca=ca)
    stranger, stranger_key = host_files(pki, "stranger")
    with pytest.raises(TlsError, match="refused this process's client certificate"):
        sl.connect(uri, token=mtls_cluster.token, tls_ca=ca, tls_cert=str(stranger),
                   tls_key=str(stranger_key))  # fmt: skip
    cert, key = host_files(pki, "node")
    remote = sl.connect(uri, token=mtls_cluster.token, tls_ca=ca, tls_cert=str(cert),
                        tls_key=str(key))  # fmt: skip
    assert {a["uri"] for a in remote.agents()} >= set(mtls_cluster.agent_uris)

    listed = sabot_lab(
        "jobs", "--jobmanager", uri, env=environment(SABOT_TOKEN=mtls_cluster.token or "",
                                                     SABOT_TLS_CA=ca),
    )  # fmt: skip
    assert listed.returncode == 1
    lines = listed.stderr.strip().splitlines()
    assert len(lines) == 1, listed.stderr  # one line: gRPC's own log lines stay quiet
    assert lines[0].startswith(f"sabot-lab jobs: error: {uri}: TLS handshake failed: ")
    assert "SABOT_TLS_CERT" in lines[0]
    listed = sabot_lab(
        "jobs", "--jobmanager", uri, "--tls-cert", cert, "--tls-key", key,
        env=environment(SABOT_TOKEN=mtls_cluster.token or "", SABOT_TLS_CA=ca),
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr


# -- handshake failures, reported where the user looks -----------------------------------


@contextlib.contextmanager
def tls_jobmanager(
    workdir: Path, cert: Path, key: Path, *args: str, **variables: str | Path
) -> Iterator[str]:
    """A JobManager serving TLS with ``cert``, given ``args`` and ``variables``; its URI."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sabot_lab.cli", "jobmanager", "--workdir", str(workdir),
         "--tls-cert", str(cert), "--tls-key", str(key), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=environment(**TOKENS, **variables),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert " ready " in line, process.communicate(timeout=30)
        yield line.split()[-1]
    finally:
        stop(process)


def stop(process: subprocess.Popen[str]) -> None:
    """Stop a server: SIGTERM, SIGKILL if it lingers."""
    process.terminate()
    try:
        process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


def agent_exit(jobmanager_uri: str, *args: str | Path, **variables: str | Path) -> str:
    """Start an agent that must exit; the one line it wrote to stderr."""
    done = sabot_lab(
        "agent", "--jobmanager", jobmanager_uri, *args,
        env=environment(SABOT_CLUSTER_TOKEN=CLUSTER_TOKEN, **variables),
    )  # fmt: skip
    assert done.returncode != 0, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_an_agent_not_trusting_the_jobmanager_exits_naming_sabot_tls_ca(tmp_path: Path) -> None:
    """The README's quick TLS setup, one self-signed certificate, with an agent not told to
    trust it: it stops at once, rather than retrying forever with the cause in gRPC's log."""
    cert, key = self_signed_certificate(tmp_path)
    with tls_jobmanager(tmp_path / "jm", cert, key) as uri:
        error = agent_exit(uri)
    assert error.startswith(
        f"sabot-lab agent: error: cannot register with the JobManager: {uri}: TLS handshake "
        "failed: this process does not trust the server's certificate"
    )
    assert "set SABOT_TLS_CA" in error


def test_an_agent_with_a_certificate_of_another_ca_cannot_register(
    pki: Path, tmp_path: Path
) -> None:
    cert, key = host_files(pki, "node")
    ca = pki / "ca" / "ca.pem"
    with tls_jobmanager(tmp_path, cert, key, "--tls-verify-client", SABOT_TLS_CA=ca) as uri:
        stranger, stranger_key = host_files(pki, "stranger")
        error = agent_exit(uri, "--tls-cert", stranger, "--tls-key", stranger_key, SABOT_TLS_CA=ca)
        assert error.startswith(
            f"sabot-lab agent: error: cannot register with the JobManager: {uri}: TLS "
            "handshake failed: the server refused this process's client certificate"
        )
        error = agent_exit(uri, SABOT_TLS_CA=ca)  # none at all
        assert "requires a client certificate" in error and "SABOT_TLS_CERT" in error


def test_a_jobmanager_not_trusting_its_agents_refuses_them_with_the_tls_cause(
    tmp_path: Path,
) -> None:
    """The README's quick TLS setup, one self-signed certificate, with only the agent told
    to trust it: the JobManager cannot call it back, so it refuses its registration, and the
    agent exits with one line naming the TLS problem and ``SABOT_TLS_CA`` (not a job that
    fails later with "agents kept failing")."""
    cert, key = self_signed_certificate(tmp_path)
    with tls_jobmanager(tmp_path / "jm", cert, key) as uri:
        agent = subprocess.Popen(
            [sys.executable, "-m", "sabot_lab.cli", "agent", "--jobmanager", uri,
             "--tls-cert", str(cert), "--tls-key", str(key)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=environment(SABOT_CLUSTER_TOKEN=CLUSTER_TOKEN, SABOT_TLS_CA=cert),
        )  # fmt: skip
        try:
            _, err = agent.communicate(timeout=120)
        finally:
            stop(agent)
        assert agent.returncode != 0
        lines = [line for line in err.splitlines() if line.startswith("sabot-lab agent: error:")]
        assert len(lines) == 1, err
        assert "the JobManager cannot call this agent back" in lines[0]
        assert "TLS handshake failed: this process does not trust the server's" in lines[0]
        assert "SABOT_TLS_CA" in lines[0] and "--advertise-host" not in lines[0]
        assert not sl.connect(uri, token=TOKEN, tls_ca=str(cert)).agents()


# -- what a peer without a certificate costs -------------------------------------------

_BIG_REQUEST = """
import sys, pyarrow.flight as flight
client = flight.connect(sys.argv[1], tls_root_certs=open(sys.argv[2], "rb").read())
options = flight.FlightCallOptions(headers=[(b"authorization", b"Bearer " + sys.argv[3].encode())])
try:
    list(client.do_action(flight.Action("echo", bytes(128 * 2**20)), options))
except flight.FlightError as exc:
    print(type(exc).__name__, exc)
else:
    print("served")
"""


def test_a_big_request_without_a_certificate_is_refused_before_it_is_read(pki: Path) -> None:
    """gRPC reads a whole request before the token is checked (pyarrow gives its server no
    message size limit): with mutual TLS a peer without the cluster's certificate fails the
    handshake, so a 128 MB request costs the server nothing."""
    cert, key = host_files(pki, "node")
    ca = pki / "ca" / "ca.pem"
    auth = Credentials.from_env(CLUSTER_TOKEN, str(ca), tls_cert=str(cert), tls_key=str(key))
    server = Echo(auth, ServerTls(cert, key, verify_client=True))
    try:
        before = psutil.Process().memory_info().rss
        sent = subprocess.run(
            [sys.executable, "-c", _BIG_REQUEST, server.uri, str(ca), CLUSTER_TOKEN],
            capture_output=True, text=True, timeout=300, env=environment(),
        )  # fmt: skip
        grown = psutil.Process().memory_info().rss - before
    finally:
        server.shutdown()
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("FlightUnavailableError"), sent.stdout
    assert grown < 32 * 2**20, f"the server grew by {grown / 2**20:.0f} MB"


# -- PostgreSQL over SSL -----------------------------------------------------------------


@pytest.fixture(scope="module")
def ssl_postgres(pki: Path) -> Iterator[PostgresServer]:
    server = PostgresServer(ssl=host_files(pki, "node"))
    yield server
    server.stop()


def test_a_jobmanager_keeps_its_jobs_in_postgresql_over_ssl_verify_full(
    ssl_postgres: PostgresServer, pki: Path, tmp_path: Path
) -> None:
    url = f"{ssl_postgres.new_database()}?sslmode=verify-full&sslrootcert={pki / 'ca' / 'ca.pem'}"
    table = random_table(1000, seed=7)
    with sl.LocalCluster(agents=1, slots=1, workdir=tmp_path / "c", database_url=url) as cluster:
        job = sl.from_arrow(table).group_by("k").agg(total=col("x").sum()).submit(cluster)
        expected = duckdb_table("SELECT k, SUM(x) AS total FROM t GROUP BY k", t=table)
        assert_same_rows(job.result(timeout=120), expected)
    with psycopg.connect(url) as conn:  # the jobs are there, and the connection was SSL
        assert conn.pgconn.ssl_in_use
        rows = conn.execute("SELECT job_id, status FROM sabot.jobs").fetchall()
    assert (job.job_id, "FINISHED") in rows


def test_a_jobmanager_refuses_postgresql_with_a_certificate_of_another_ca(
    ssl_postgres: PostgresServer, pki: Path, tmp_path: Path
) -> None:
    url = f"{ssl_postgres.new_database()}?sslmode=verify-full&sslrootcert={pki / 'other-ca' / 'ca.pem'}"
    done = sabot_lab("jobmanager", "--workdir", tmp_path, "--db", url, env=environment(**TOKENS))
    assert done.returncode != 0 and " ready " not in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # one line, no traceback
    assert lines[0].startswith("sabot-lab jobmanager: error: cannot connect to the database ")
    assert "certificate verify failed" in lines[0] and "sslrootcert=" in lines[0]
