"""The address a server tells others to reach it at (its *advertised* host), as opposed to
the address it listens on.

A server bound to a wildcard (``0.0.0.0``, ``::`` or ``""``: every interface) cannot hand
that address out: no other host reaches ``0.0.0.0``. It advertises the host it was given
(``--advertise-host``, ``SABOT_ADVERTISE_HOST``), else one it finds itself: the source
address of the route toward its JobManager (a UDP socket ``connect()``-ed there sends
nothing), else the first address of one of its interfaces that is not loopback or
link-local.

May import :mod:`sabot_lab.errors` and psutil only.

>>> advertised_host("127.0.0.1"), advertised_host("0.0.0.0", toward="127.0.0.1")
('127.0.0.1', '127.0.0.1')
>>> server_uri("grpc", "::1", 8815)
'grpc://[::1]:8815'
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import psutil

from sabot_lab.errors import ClusterError

__all__ = [
    "advertised_host",
    "host_of",
    "interface_addresses",
    "is_wildcard",
    "routable_address",
    "server_uri",
]

_WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})
_NOWHERE = "192.0.2.1"  # TEST-NET-1 (RFC 5737): a route toward it is the default route's


def is_wildcard(host: str) -> bool:
    """Whether ``host`` means every interface (a server listens there, nobody connects there).

    >>> [is_wildcard(h) for h in ("0.0.0.0", "::", "[::]", "", "10.0.0.7", "jm1")]
    [True, True, True, True, False, False]
    """
    return host.strip() in _WILDCARDS


def server_uri(scheme: str, host: str, port: int) -> str:
    """``scheme://host:port``, an IPv6 ``host`` in brackets.

    >>> server_uri("grpc+tls", "10.0.0.7", 8815), server_uri("http", "[fe80::1]", 80)
    ('grpc+tls://10.0.0.7:8815', 'http://[fe80::1]:80')
    """
    bracketed = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{scheme}://{bracketed}:{port}"


def host_of(uri: str) -> str:
    """The host of a server's URI (an IPv6 address without its brackets).

    >>> host_of("grpc://10.0.0.7:8815"), host_of("grpc+tls://[::1]:1"), host_of("jm:1")
    ('10.0.0.7', '::1', 'jm')
    """
    return urlsplit(uri if "://" in uri else f"//{uri}").hostname or ""


def advertised_host(
    bind_host: str, advertise_host: str | None = None, toward: str | None = None
) -> str:
    """The host a server listening on ``bind_host`` hands out: ``advertise_host`` if given,
    ``bind_host`` if it is not a wildcard, else :func:`routable_address` ``(toward)`` (of the
    wildcard's family). Raises :class:`~sabot_lab.errors.ClusterError` for a wildcard
    ``advertise_host``.

    >>> advertised_host("0.0.0.0", "10.0.0.7"), advertised_host("jm1")
    ('10.0.0.7', 'jm1')
    >>> advertised_host("0.0.0.0", "0.0.0.0")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ClusterError: --advertise-host 0.0.0.0 is a wildcard, which no other host can reach: give the address (or name) other hosts reach this server at
    """
    if advertise_host is not None and advertise_host.strip():
        if is_wildcard(advertise_host):
            raise ClusterError(
                f"--advertise-host {advertise_host} is a wildcard, which no other host can "
                "reach: give the address (or name) other hosts reach this server at"
            )
        return advertise_host.strip().strip("[]")
    if not is_wildcard(bind_host):
        return bind_host.strip("[]")
    family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
    return routable_address(toward, family)


def routable_address(toward: str | None = None, family: int = socket.AF_INET) -> str:
    """An address of this host that others can reach: the source address of the route toward
    ``toward`` (a host name or address; None: the default route's), else the first of
    :func:`interface_addresses`. Raises :class:`~sabot_lab.errors.ClusterError` when the
    host has no such address.

    >>> routable_address("127.0.0.1")
    '127.0.0.1'
    """
    source = _route_source(toward or (_NOWHERE if family == socket.AF_INET else "2001:db8::1"))
    if source is not None and (toward is not None or not _local_only(source)):
        return source
    found = interface_addresses(family)
    if not found:
        raise ClusterError(
            "found no address of this host that other hosts can reach (only loopback "
            "interfaces): listen on one (--host) or give one with --advertise-host"
        )
    return found[0]


def _route_source(toward: str) -> str | None:
    """The source address of the route toward ``toward``, if there is one."""
    try:
        infos = socket.getaddrinfo(toward, 9, type=socket.SOCK_DGRAM)
    except OSError:
        return None
    for family, kind, proto, _, address in infos:
        try:
            with socket.socket(family, kind, proto) as probe:
                probe.connect(address)  # (UDP: sends nothing, only picks the route)
                source: str = probe.getsockname()[0]
                return source
        except OSError:
            continue
    return None


def _local_only(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    return ip.is_loopback or ip.is_link_local or ip.is_unspecified


def interface_addresses(family: int = socket.AF_INET) -> list[str]:
    """The addresses of this host's interfaces in ``family`` that are neither loopback nor
    link-local, in the interfaces' order.

    >>> all(not a.startswith("127.") for a in interface_addresses())
    True
    """
    return [
        address.address.split("%")[0]
        for addresses in psutil.net_if_addrs().values()
        for address in addresses
        if address.family == family and not _local_only(address.address)
    ]
