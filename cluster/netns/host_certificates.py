"""Certificates for the hosts of a virtual cluster (:mod:`cluster.netns.virtual_hosts`), made
with ``sabot-lab certs`` as an operator makes them: a cluster CA, and for each host a
certificate naming the host (its DNS name) and its address (an IP SAN), for both ends of
mutual TLS and for PostgreSQL's ``sslmode=verify-full``.

May import the standard library and :mod:`cluster.netns.virtual_hosts`.

>>> HostCertificates(Path("/pki")).cert("agent1")
PosixPath('/pki/hosts/agent1.pem')
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cluster.netns.virtual_hosts import VirtualCluster

__all__ = ["HostCertificates", "make_certificates"]


@dataclass(frozen=True)
class HostCertificates:
    """Where ``sabot-lab certs`` wrote a CA (``root/ca``) and its hosts' certificates
    (``root/hosts``)."""

    root: Path

    @property
    def ca(self) -> Path:
        """The CA's certificate: what every process trusts (``SABOT_TLS_CA``)."""
        return self.root / "ca" / "ca.pem"

    def cert(self, host: str) -> Path:
        """``host``'s certificate."""
        return self.root / "hosts" / f"{host}.pem"

    def key(self, host: str) -> Path:
        """``host``'s private key."""
        return self.root / "hosts" / f"{host}-key.pem"

    def environment(self, host: str) -> dict[str, str]:
        """The variables giving a process on ``host`` the CA and ``host``'s certificate."""
        return {"SABOT_TLS_CA": str(self.ca), "SABOT_TLS_CERT": str(self.cert(host)),
                "SABOT_TLS_KEY": str(self.key(host))}  # fmt: skip


def make_certificates(
    hosts: VirtualCluster, root: Path, names: Iterable[str] | None = None
) -> HostCertificates:
    """A new CA in ``root/ca`` and a certificate signed by it for each host of ``names``
    (default: all of ``hosts``) naming the host and its address, with ``sabot-lab certs``.

    >>> import tempfile  # (it runs sabot-lab certs: subprocess.run)
    >>> made = make_certificates(VirtualCluster(["a"]), Path(tempfile.mkdtemp()))
    >>> made.ca.exists(), made.cert("a").exists(), made.key("a").exists()
    (True, True, True)
    """
    made = HostCertificates(root)
    _certs(hosts, "ca", "--out", str(root / "ca"))
    for host in hosts.addresses if names is None else names:
        _certs(hosts, "host", host, "--ca", str(root / "ca"), "--out", str(root / "hosts"),
               "--ip", hosts.addresses[host])  # fmt: skip
    return made


def _certs(hosts: VirtualCluster, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "sabot_lab.cli", "certs", *args],
                          env=hosts.environment(), capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"sabot-lab certs {' '.join(args)} failed: {done.stderr.strip()}")
