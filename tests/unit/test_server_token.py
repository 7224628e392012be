"""Tests of the credential rules a server starts with: loopback detection, token strength, what
``--insecure`` allows, and the constant-time bearer-token check."""

from __future__ import annotations

import secrets
from typing import Any

import pyarrow.flight as flight
import pytest

from sabot_lab.errors import ClusterError
from sabot_lab.runtime import transport
from sabot_lab.runtime.server_token import (
    MAKE_TOKEN,
    MIN_TOKEN_CHARS,
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


@pytest.mark.parametrize("token", [None, STRONG])
@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1", "jm.example.com"])
def test_insecure_is_refused_off_loopback(token: str | None, host: str) -> None:
    with pytest.raises(ClusterError, match=r"--insecure .* only on a loopback host"):
        check_server_token(token, host, insecure=True)


def test_the_bearer_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[Any, Any]] = []

    def compare_digest(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return bool(a == b)

    monkeypatch.setattr(transport.hmac, "compare_digest", compare_digest)
    check = transport.TokenMiddlewareFactory(STRONG)
    check.start_call(None, {"authorization": [f"Bearer {STRONG}"]})
    with pytest.raises(flight.FlightUnauthenticatedError):
        check.start_call(None, {"authorization": ["Bearer guess", "Bearer \udcff"]})
    with pytest.raises(flight.FlightUnauthenticatedError):
        check.start_call(None, {})
    assert len(compared) == 3  # every header value went through hmac.compare_digest
