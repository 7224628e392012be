"""The credentials a cluster server must start with, and where tokens may travel.

A server needs a bearer token of at least 128 bits for each of its roles, or, only when asked
(``--insecure``) and only on a loopback address, none. A token's strength is its length: at
least :data:`MIN_TOKEN_CHARS` characters, the length of ``secrets.token_urlsafe(16)`` (16
random bytes, 128 bits, in 22 URL-safe characters). :data:`MAKE_TOKEN` is the command that
makes one.

Tokens travel in clear over plain ``grpc://``: that is allowed to and from loopback only,
elsewhere only when asked (``--insecure``); otherwise TLS (``grpc+tls://``) carries them
(:func:`check_in_clear`).

May import :mod:`sabot_lab.errors` only.

>>> check_server_token("k" * 22, "0.0.0.0", insecure=False) is None
True
>>> check_server_token(None, "127.0.0.1", insecure=True)
'warning: serving on 127.0.0.1 without a token in SABOT_TOKEN (--insecure): any local process can run code here'
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from sabot_lab.errors import ClusterError

__all__ = [
    "MAKE_TOKEN",
    "MIN_TOKEN_CHARS",
    "TURN_ON_TLS",
    "check_in_clear",
    "check_server_token",
    "is_loopback",
    "is_strong_token",
]

MIN_TOKEN_CHARS = 22
"""Characters a server's token has at least: 128 bits as ``secrets.token_urlsafe`` writes them."""

MAKE_TOKEN = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
"""A command that prints a strong token."""

TURN_ON_TLS = (
    "serve TLS (sabot-lab jobmanager/agent --tls-cert CERT.pem --tls-key KEY.pem, which then "
    "listen on grpc+tls://), and have clients and agents trust the certificate (SABOT_TLS_CA="
    "CERT.pem, or sl.connect(..., tls_ca=)); or accept tokens in clear with --insecure "
    "(insecure=True)"
)
"""How to keep tokens off the network in clear."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address: ``localhost``, 127.0.0.0/8 or ``::1`` (names
    other than ``localhost`` are not resolved, so they are not loopback).

    >>> [is_loopback(h) for h in ("127.0.0.1", "127.8.9.1", "::1", "[::1]", "LocalHost")]
    [True, True, True, True, True]
    >>> [is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "jm.example.com", "")]
    [False, False, False, False, False]
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


def is_strong_token(token: str | None) -> bool:
    """Whether ``token`` has at least :data:`MIN_TOKEN_CHARS` characters.

    >>> is_strong_token("k" * 22), is_strong_token("k" * 21), is_strong_token(None)
    (True, False, False)
    """
    return token is not None and len(token) >= MIN_TOKEN_CHARS


def check_server_token(
    token: str | None, host: str, insecure: bool, variable: str = "SABOT_TOKEN"
) -> str | None:
    """Whether a server on ``host`` may start with ``token`` (from the environment variable
    ``variable``): raise :class:`ClusterError` if not; else return the warning to print when
    it starts without a strong token (``insecure`` on loopback), or None.

    >>> check_server_token("short", "127.0.0.1", insecure=False)
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ClusterError: SABOT_TOKEN is too short (5 characters): ...
    >>> check_server_token(None, "0.0.0.0", insecure=True, variable="SABOT_CLUSTER_TOKEN")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ClusterError: --insecure (serving without a token) is allowed only on ...
    """
    if is_strong_token(token):
        return None
    if insecure and not is_loopback(host):
        raise ClusterError(
            "--insecure (serving without a token) is allowed only on a loopback host "
            f"(127.0.0.1, ::1, localhost), not on {host!r}; set {variable} instead, "
            f"made with: {MAKE_TOKEN}"
        )
    if insecure:
        without = "without a token" if not token else "with a weak token"
        return (
            f"warning: serving on {host} {without} in {variable} (--insecure): "
            "any local process can run code here"
        )
    problem = "is not set" if not token else f"is too short ({len(token)} characters)"
    raise ClusterError(
        f"{variable} {problem}: a server needs a token of at least {MIN_TOKEN_CHARS} "
        f"characters (128 bits); make one with: {MAKE_TOKEN} "
        "(or serve on loopback only, unauthenticated, with --insecure)"
    )


def check_in_clear(uri: str, insecure: bool) -> str | None:
    """Whether tokens may travel to or from ``uri``: raise :class:`ClusterError` if it is
    plain ``grpc://`` (tokens in clear) to a host that is not loopback, unless ``insecure``,
    which returns the warning to print instead; None when TLS or loopback keeps them safe.

    >>> check_in_clear("grpc://127.0.0.1:8815", insecure=False) is None
    True
    >>> check_in_clear("grpc+tls://jm.example.com:8815", insecure=False) is None
    True
    >>> check_in_clear("grpc://jm.example.com:8815", insecure=False)
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ClusterError: grpc://jm.example.com:8815 is plain grpc:// to a host that is not loopback: ...
    >>> check_in_clear("grpc://[fe80::1]:8815", insecure=True)
    'warning: grpc://[fe80::1]:8815 is plain grpc:// (--insecure): tokens and rows cross the network in clear'
    """
    parts = urlsplit(uri)
    if parts.scheme not in ("grpc", "grpc+tcp") or is_loopback(parts.hostname or ""):
        return None
    if insecure:
        return (
            f"warning: {uri} is plain grpc:// (--insecure): "
            "tokens and rows cross the network in clear"
        )
    raise ClusterError(
        f"{uri} is plain grpc:// to a host that is not loopback: its token would cross the "
        f"network in clear; {TURN_ON_TLS}"
    )
