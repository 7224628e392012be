"""Why a TLS connection to a cluster server failed, in words that name the setting to fix.

gRPC reports a failed TLS handshake as an unavailable server, with the cause at best in its
own log lines ("Socket closed" when the server refused the client's certificate).
:func:`tls_problem` connects again with Python's :mod:`ssl`, with the same trust and client
certificate, and says what went wrong and how to fix it: the server's certificate not trusted
(``SABOT_TLS_CA``), not naming the address called, no client certificate where the server
requires one (``SABOT_TLS_CERT``/``SABOT_TLS_KEY``), or one from a CA it does not trust.

May import :mod:`sabot_lab.errors` only.

>>> tls_problem("grpc://127.0.0.1:1", None) is None  # plain gRPC: no TLS to diagnose
True
"""

from __future__ import annotations

import os
import socket
import ssl
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["TRUST_CA", "tls_problem"]

TRUST_CA = (
    "set SABOT_TLS_CA (--tls-ca; tls_ca= in Python) to the cluster's CA certificate, the one "
    "that signed the server's (`sabot-lab certs ca` makes one)"
)
"""How to make a process trust a cluster's servers."""

_PRESENT_CERT = (
    "give this process a certificate signed by the cluster's CA: SABOT_TLS_CERT and "
    "SABOT_TLS_KEY (--tls-cert/--tls-key; tls_cert=/tls_key= in Python), made with "
    "`sabot-lab certs host NAME --ca CA_DIR`"
)

# The start of an HTTP/2 connection (RFC 9113 3.4) and an empty SETTINGS frame: a gRPC
# server answers them once it accepted the client's certificate, or sends its alert.
_HTTP2_START = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def tls_problem(
    uri: str,
    trusted: bytes | None,
    cert: bytes | None = None,
    key: bytes | None = None,
    timeout: float = 5.0,
) -> str | None:
    """What fails in a TLS handshake with the ``grpc+tls://`` server at ``uri``, trusting
    the PEM certificates ``trusted`` (the system's roots when None) and presenting the client
    certificate ``cert`` with its ``key``: the cause and the fix in one sentence, or None when
    the handshake succeeds, the server cannot be reached at all, or ``uri`` is not TLS."""
    parts = urlsplit(uri)
    if parts.scheme != "grpc+tls" or parts.hostname is None or parts.port is None:
        return None
    context = ssl.create_default_context(cadata=trusted.decode() if trusted else None)
    context.set_alpn_protocols(["h2"])
    try:
        with tempfile.TemporaryDirectory() as private:
            if cert is not None and key is not None:
                _load_client_certificate(context, Path(private), cert, key)
            with (
                socket.create_connection((parts.hostname, parts.port), timeout) as raw,
                context.wrap_socket(raw, server_hostname=parts.hostname) as tls,
            ):
                tls.sendall(_HTTP2_START)
                if not tls.recv(1):  # closed at once: it refused this client's certificate
                    return _client_refused(presented=cert is not None)
    except ssl.SSLCertVerificationError as exc:
        return _untrusted_server(parts.hostname, exc)
    except ssl.SSLError as exc:
        return _refused(exc, presented=cert is not None)
    except (OSError, ValueError):
        return None  # not reachable (or no answer in time): not a TLS problem
    return None


def _load_client_certificate(
    context: ssl.SSLContext, directory: Path, cert: bytes, key: bytes
) -> None:
    """Load the client certificate (the :mod:`ssl` module reads it from files only)."""
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert)
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(descriptor, "wb") as out:
        out.write(key)
    context.load_cert_chain(cert_file, key_file)


def _untrusted_server(host: str, exc: ssl.SSLCertVerificationError) -> str:
    """The server's certificate failed this process's checks.

    >>> error = ssl.SSLCertVerificationError(1, "x")
    >>> error.verify_message = "unable to get local issuer certificate"
    >>> _untrusted_server("10.0.0.5", error)
    "this process does not trust the server's certificate (unable to get local issuer certificate): set SABOT_TLS_CA ..."
    """
    reason = exc.verify_message or exc.reason or str(exc)
    if "hostname" in reason.lower() or "ip address" in reason.lower():
        flag = "--ip" if _is_address(host) else "--dns"
        return (
            f"the server's certificate does not name {host!r} ({reason}): call it by a name "
            f"its certificate has, or make one that names it: sabot-lab certs host NAME "
            f"--ca CA_DIR {flag} {host}"
        )
    return f"this process does not trust the server's certificate ({reason}): {TRUST_CA}"


def _refused(exc: ssl.SSLError, presented: bool) -> str:
    """The server ended the handshake (an alert), or it failed otherwise.

    >>> _refused(ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), False)
    'the server does not speak TLS: call it with grpc:// (or serve it with --tls-cert/--tls-key)'
    """
    text = str(exc).upper()
    alerts = ("CERTIFICATE_REQUIRED", "UNKNOWN_CA", "BAD_CERTIFICATE", "HANDSHAKE_FAILURE")
    if any(alert in text for alert in alerts):
        return _client_refused(presented)
    if "WRONG_VERSION_NUMBER" in text or "PACKET_LENGTH_TOO_LONG" in text:
        return "the server does not speak TLS: call it with grpc:// (or serve it with --tls-cert/--tls-key)"
    return f"{exc.reason or exc}"


def _client_refused(presented: bool) -> str:
    """The server closed the connection on seeing this client's certificate, or its lack.

    >>> _client_refused(presented=True)
    "the server refused this process's client certificate (mutual TLS: it is not signed by the CA the server trusts): give this process ..."
    """
    if not presented:
        return (
            "the server requires a client certificate (mutual TLS) and this process "
            f"presented none: {_PRESENT_CERT}"
        )
    return (
        "the server refused this process's client certificate (mutual TLS: it is not signed "
        f"by the CA the server trusts): {_PRESENT_CERT}"
    )


def _is_address(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host.strip("[]"))
    except OSError:
        return False
    return True
