"""Mutual TLS on a Flight server of the cluster, in this process: a server that verifies its
clients (``ServerTls(verify_client=True)``, trusting the cluster CA of its credentials) serves
a client presenting a certificate signed by that CA, and refuses one presenting a certificate
of another CA or none, with a :class:`TlsError` naming the cause and the setting to fix; a
client that does not trust the server's certificate hears the same."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from sabot_lab.errors import ClusterError, TlsError
from sabot_lab.runtime.certificates import create_ca, create_host
from sabot_lab.runtime.transport import ClusterServer, Credentials, ServerTls, call
from tests.support.tls import Echo

TOKEN = secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two CAs (``ca``, ``other-ca``), hosts ``server`` and ``client`` signed by the first,
    ``stranger`` by the second."""
    root = tmp_path_factory.mktemp("pki")
    create_ca(root / "ca")
    create_ca(root / "other-ca")
    for name, ca in (("server", "ca"), ("client", "ca"), ("stranger", "other-ca")):
        create_host(name, root / ca, root / "hosts", dns=["localhost"], ips=["127.0.0.1"])
    return root


def credentials(pki: Path, host: str | None, ca: str = "ca") -> Credentials:
    """The cluster token, trusting ``ca``, presenting ``host``'s certificate (None: none)."""
    cert = key = None
    if host is not None:
        cert = str(pki / "hosts" / f"{host}.pem")
        key = str(pki / "hosts" / f"{host}-key.pem")
    return Credentials.from_env(TOKEN, str(pki / ca / "ca.pem"), tls_cert=cert, tls_key=key)


@pytest.fixture(scope="module")
def server(pki: Path) -> Iterator[Echo]:
    hosts = pki / "hosts"
    tls = ServerTls(hosts / "server.pem", hosts / "server-key.pem", verify_client=True)
    echo = Echo(credentials(pki, None), tls)
    yield echo
    echo.shutdown()


def test_a_client_with_a_certificate_of_the_cluster_ca_is_served(server: Echo, pki: Path) -> None:
    assert server.uri.startswith("grpc+tls://")
    assert call(server.uri, "echo", {"n": 7}, credentials(pki, "client")) == {"n": 7}


def test_a_client_without_a_certificate_is_refused_and_told_what_to_set(
    server: Echo, pki: Path
) -> None:
    with pytest.raises(TlsError) as refused:
        call(server.uri, "echo", {}, credentials(pki, None))
    message = str(refused.value)
    assert message.startswith(f"{server.uri}: TLS handshake failed: the server requires a client")
    assert "SABOT_TLS_CERT" in message and "SABOT_TLS_KEY" in message


def test_a_client_with_a_certificate_of_another_ca_is_refused(server: Echo, pki: Path) -> None:
    with pytest.raises(TlsError, match="refused this process's client certificate") as refused:
        call(server.uri, "echo", {}, credentials(pki, "stranger"))
    assert "sabot-lab certs host" in str(refused.value)


def test_a_client_not_trusting_the_server_hears_of_sabot_tls_ca(server: Echo, pki: Path) -> None:
    with pytest.raises(TlsError, match="does not trust the server's certificate") as refused:
        call(server.uri, "echo", {}, credentials(pki, "client", ca="other-ca"))
    assert "SABOT_TLS_CA" in str(refused.value)


def test_a_server_presents_its_own_certificate_when_it_calls_others(
    server: Echo, pki: Path
) -> None:
    """A server's credentials present its certificate: one certificate per host serves both
    ends of mutual TLS (so a JobManager or agent reaches servers that verify clients)."""
    hosts = pki / "hosts"
    caller = Echo(credentials(pki, None), ServerTls(hosts / "client.pem", hosts / "client-key.pem"))
    try:
        assert caller.auth.tls_cert == (hosts / "client.pem").read_bytes()
        assert call(server.uri, "echo", {"from": "server"}, caller.auth) == {"from": "server"}
    finally:
        caller.shutdown()


def test_verifying_clients_needs_the_cluster_ca(pki: Path) -> None:
    hosts = pki / "hosts"
    tls = ServerTls(hosts / "server.pem", hosts / "server-key.pem", verify_client=True)
    with pytest.raises(ClusterError, match=r"needs the CA .*SABOT_TLS_CA"):
        ClusterServer("127.0.0.1", 0, Credentials(TOKEN), tls)


def test_a_client_certificate_needs_its_key(pki: Path) -> None:
    with pytest.raises(ClusterError, match="needs its key"):
        Credentials.from_env(TOKEN, tls_cert=str(pki / "hosts" / "client.pem"))
