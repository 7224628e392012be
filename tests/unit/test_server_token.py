"""Tests of the credential rules a server starts with: loopback detection, token strength, what
``--insecure`` allows, where tokens may travel in clear, and the constant-time bearer-token
check of every role's token."""

from __future__ import annotations

import secrets
from typing import Any

import pyarrow.flight as flight
import pytest

from sabot_lab.errors import ClusterError
from sabot_lab.runtime import transport
from sabot_lab.runtime.protocol import Role
from sabot_lab.runtime.server_token import (
    MAKE_TOKEN,
    MIN_TOKEN_CHARS,
    check_in_clear,
    check_server_token,
    is_loopback,
    is_strong_token,
)

STRONG = secrets.token_urlsafe(16)


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "[::1]", "localhost", "LOCALHOST"]
)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host",
    [
        "0.0.0.0",
        "::",
        "128.0.0.1",
        "10.0.0.1",
        "192.168.1.2",
        "fe80::1",
        "jm",
        "localhost.evil",
        "",
    ],
)
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_a_token_has_128_bits_from_22_characters() -> None:
    assert MIN_TOKEN_CHARS == len(secrets.token_urlsafe(16)) == 22
    assert is_strong_token(STRONG) and is_strong_token("k" * 22)
    assert not is_strong_token("k" * 21)
    assert not is_strong_token("") and not is_strong_token(None)


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", "jm.example.com"])
def test_a_strong_token_serves_anywhere_without_a_warning(host: str) -> None:
    assert check_server_token(STRONG, host, insecure=False) is None


@pytest.mark.parametrize("token", [None, "", "s3cret", "k" * 21])
@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_no_server_without_a_strong_token(token: str | None, host: str) -> None:
    with pytest.raises(ClusterError) as error:
        check_server_token(token, host, insecure=False)
    message = str(error.value)
    assert "SABOT_TOKEN" in message and MAKE_TOKEN in message and "22 characters" in message
    assert "\n" not in message


@pytest.mark.parametrize("token", [None, "s3cret"])
def test_insecure_serves_on_loopback_with_a_warning(token: str | None) -> None:
    warning = check_server_token(token, "127.0.0.1", insecure=True)
    assert warning is not None and warning.startswith("warning: ") and "--insecure" in warning


@pytest.mark.parametrize("token", [None, "s3cret"])
@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1", "jm.example.com"])
def test_insecure_without_a_strong_token_is_refused_off_loopback(
    token: str | None, host: str
) -> None:
    with pytest.raises(ClusterError, match=r"--insecure .* only on a loopback host"):
        check_server_token(token, host, insecure=True, variable="SABOT_CLUSTER_TOKEN")


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1", "jm.example.com"])
def test_insecure_with_a_strong_token_serves_off_loopback(host: str) -> None:
    """(--insecure then only lets the token travel in clear: see check_in_clear.)"""
    assert check_server_token(STRONG, host, insecure=True) is None


@pytest.mark.parametrize("variable", ["SABOT_TOKEN", "SABOT_CLUSTER_TOKEN", "SABOT_READ_TOKEN"])
def test_a_refusal_names_the_variable_of_the_token(variable: str) -> None:
    with pytest.raises(ClusterError, match=f"^{variable} is too short"):
        check_server_token("s3cret", "127.0.0.1", insecure=False, variable=variable)


@pytest.mark.parametrize(
    "uri",
    [
        "grpc://10.0.0.1:8815",
        "grpc://0.0.0.0:8815",
        "grpc://jm.example.com:8815",
        "grpc://[fe80::1]:8815",
        "grpc+tcp://192.0.2.1:1",
    ],
)
def test_plain_grpc_off_loopback_is_refused_and_says_how_to_turn_on_tls(uri: str) -> None:
    with pytest.raises(ClusterError) as error:
        check_in_clear(uri, insecure=False)
    message = str(error.value)
    assert message.startswith(f"{uri} is plain grpc:// ") and "in clear" in message
    for how in ("grpc+tls://", "--tls-cert", "--tls-key", "SABOT_TLS_CA", "--insecure"):
        assert how in message
    warning = check_in_clear(uri, insecure=True)
    assert warning is not None and warning.startswith("warning: ") and "in clear" in warning


@pytest.mark.parametrize(
    "uri",
    [
        "grpc://127.0.0.1:8815",
        "grpc://localhost:1",
        "grpc://[::1]:1",
        "grpc+tls://10.0.0.1:8815",
        "grpc+tls://jm.example.com:1",
    ],
)
def test_loopback_or_tls_keeps_tokens_out_of_the_network(uri: str) -> None:
    assert check_in_clear(uri, insecure=False) is None


def test_a_client_refuses_plain_grpc_off_loopback_before_connecting() -> None:
    with pytest.raises(ClusterError, match="plain grpc://"):
        transport.Credentials(STRONG).client("grpc://192.0.2.1:1")
    with pytest.raises(ClusterError, match="plain grpc://"):
        transport.call("grpc://192.0.2.1:1", "ping", None, transport.Credentials(STRONG))
    assert transport.Credentials(STRONG, insecure=True).client("grpc://192.0.2.1:1") is not None


def test_credentials_never_show_their_token() -> None:
    assert STRONG not in repr(transport.Credentials(STRONG)) + str(transport.Credentials(STRONG))


def test_the_bearer_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[Any, Any]] = []

    def compare_digest(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return bool(a == b)

    monkeypatch.setattr(transport.hmac, "compare_digest", compare_digest)
    read, cluster = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    tokens = {Role.SUBMIT: STRONG, Role.READ: read, Role.CLUSTER: cluster}
    check = transport.TokenMiddlewareFactory(tokens)
    assert check.start_call(None, {"authorization": [f"Bearer {STRONG}"]}).role is Role.SUBMIT
    assert check.start_call(None, {"authorization": [f"Bearer {read}"]}).role is Role.READ
    assert check.start_call(None, {"authorization": [f"Bearer {cluster}"]}).role is Role.CLUSTER
    with pytest.raises(flight.FlightUnauthenticatedError):
        check.start_call(None, {"authorization": ["Bearer guess", "Bearer \udcff"]})
    with pytest.raises(flight.FlightUnauthenticatedError):
        check.start_call(None, {})
    # every header value went through hmac.compare_digest with every token, matching or not
    assert len(compared) == 3 * 3 + 2 * 3
