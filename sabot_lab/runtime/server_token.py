"""The credential a cluster server must start with: a bearer token of at least 128 bits, or,
only when asked (``--insecure``) and only on a loopback address, none.

A token's strength is its length: at least :data:`MIN_TOKEN_CHARS` characters, the length of
``secrets.token_urlsafe(16)`` (16 random bytes, 128 bits, in 22 URL-safe characters).
:data:`MAKE_TOKEN` is the command that makes one.

May import :mod:`sabot_lab.errors` only.

>>> check_server_token("k" * 22, "0.0.0.0", insecure=False) is None
True
>>> check_server_token(None, "127.0.0.1", insecure=True)
'warning: serving on 127.0.0.1 without a token (--insecure): any local process can run code here'
"""

from __future__ import annotations

import ipaddress

from sabot_lab.errors import ClusterError

__all__ = ["MAKE_TOKEN", "MIN_TOKEN_CHARS", "check_server_token", "is_loopback", "is_strong_token"]

MIN_TOKEN_CHARS = 22
"""Characters a server's token has at least: 128 bits as ``secrets.token_urlsafe`` writes them."""

MAKE_TOKEN = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
"""A command that prints a strong token."""


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


def check_server_token(token: str | None, host: str, insecure: bool) -> str | None:
    """Whether a server on ``host`` may start with ``token``: raise :class:`ClusterError` if
    not; else return the warning to print when it starts without a strong token (``insecure``
    on loopback), or None.

    >>> check_server_token("short", "127.0.0.1", insecure=False)
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ClusterError: SABOT_TOKEN is too short (5 characters): ...
    >>> check_server_token(None, "0.0.0.0", insecure=True)
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ClusterError: --insecure (serving without a token) is allowed only on ...
    """
    if insecure and not is_loopback(host):
        raise ClusterError(
            "--insecure (serving without a token) is allowed only on a loopback host "
            f"(127.0.0.1, ::1, localhost), not on {host!r}; set SABOT_TOKEN instead, "
            f"made with: {MAKE_TOKEN}"
        )
    if is_strong_token(token):
        return None
    if insecure:
        without = "without a token" if not token else "with a weak token"
        return (
            f"warning: serving on {host} {without} (--insecure): "
            "any local process can run code here"
        )
    problem = "is not set" if not token else f"is too short ({len(token)} characters)"
    raise ClusterError(
        f"SABOT_TOKEN {problem}: a server needs a token of at least {MIN_TOKEN_CHARS} "
        f"characters (128 bits); make one with: {MAKE_TOKEN} "
        "(or serve on loopback only, unauthenticated, with --insecure)"
    )
