"""A cluster's certificates: its certificate authority (CA) and the host certificates it signs,
for ``sabot-lab certs ca`` and ``sabot-lab certs host``.

Keys are ECDSA P-256; key files are written with mode 0600. A CA is valid
:data:`CA_DAYS` days and may sign host certificates only (path length 0); a host certificate
is valid :data:`HOST_DAYS` days, names its host in subject alternative names (DNS names and IP
addresses) and serves both ends of mutual TLS (extended key usage server and client
authentication), so one certificate serves a JobManager, an agent or a client. No file is
overwritten unless asked (``force``).

May import :mod:`sabot_lab.errors` only.

>>> import tempfile
>>> out = Path(tempfile.mkdtemp())
>>> ca = create_ca(out / "ca")
>>> sorted(p.name for p in ca.files())
['ca-key.pem', 'ca.pem']
>>> host = create_host("jm1", out / "ca", out / "hosts", dns=["jm1.internal"], ips=["10.0.0.5"])
>>> sorted(p.name for p in host.files())
['jm1-key.pem', 'jm1.pem']
>>> subject_alternative_names(host.cert)
['DNS:jm1', 'DNS:jm1.internal', 'IP:10.0.0.5']
>>> oct(host.key.stat().st_mode & 0o777)
'0o600'
>>> create_ca(out / "ca")
Traceback (most recent call last):
...
sabot_lab.errors.SabotError: .../ca/ca.pem exists: pass --force to replace it (and the certificates it signed stop being trusted)
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sabot_lab.errors import SabotError

__all__ = [
    "CA_DAYS",
    "HOST_DAYS",
    "CertificateFiles",
    "create_ca",
    "create_host",
    "run_certs",
    "subject_alternative_names",
]

CA_DAYS = 3650
"""Days a cluster CA is valid: ten years."""

HOST_DAYS = 397
"""Days a host certificate is valid: the most browsers accept (about 13 months)."""

CA_CERT, CA_KEY = "ca.pem", "ca-key.pem"
"""The files of a CA in its directory."""

_ORGANIZATION = "sabot-lab cluster"


@dataclass(frozen=True)
class CertificateFiles:
    """A certificate and its private key: paths of PEM files."""

    cert: Path
    key: Path

    def files(self) -> list[Path]:
        """Both paths, the certificate first."""
        return [self.cert, self.key]


def create_ca(
    out: str | os.PathLike[str],
    name: str = "sabot-lab cluster CA",
    days: int = CA_DAYS,
    force: bool = False,
) -> CertificateFiles:
    """Create a cluster CA in the directory ``out`` (made if missing): ``ca.pem``, the
    certificate every process of the cluster trusts (``SABOT_TLS_CA``), and ``ca-key.pem``,
    its key (mode 0600), which signs host certificates. Refuses to replace either file unless
    ``force`` (see the module's example)."""
    files = CertificateFiles(Path(out) / CA_CERT, Path(out) / CA_KEY)
    _check_free(files, force, "and the certificates it signed stop being trusted")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(name)
    now = _now()
    cert = (
        _builder(subject, subject, key.public_key(), now, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write(files, cert, key)
    return files


def create_host(
    name: str,
    ca: str | os.PathLike[str],
    out: str | os.PathLike[str],
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    days: int = HOST_DAYS,
    force: bool = False,
) -> CertificateFiles:
    """Create the certificate of host ``name``, signed by the CA in the directory ``ca``
    (see :func:`create_ca`), in the directory ``out``: ``NAME.pem`` and ``NAME-key.pem``
    (mode 0600). Its subject alternative names are ``name`` (a DNS name, or an IP address
    if it is one), the ``dns`` names and the ``ips`` addresses; it serves TLS and presents
    itself as a client (mutual TLS). Refuses to replace either file unless ``force``.

    >>> create_host("h", "/nonexistent", "/tmp")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SabotError: cannot read the CA /nonexistent/ca.pem: No such file or directory (make one with: sabot-lab certs ca --out /nonexistent)
    >>> create_host("h", "/tmp", "/tmp", ips=["10.0.0.300"])
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SabotError: not an IP address: '10.0.0.300' (give names with --dns, addresses with --ip)
    """
    addresses = [_address(ip) for ip in ips]
    ca_files = CertificateFiles(Path(ca) / CA_CERT, Path(ca) / CA_KEY)
    ca_cert, ca_key = _read_ca(ca_files)
    files = CertificateFiles(Path(out) / f"{name}.pem", Path(out) / f"{name}-key.pem")
    _check_free(files, force, "the processes using it then need restarting")
    try:
        names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(name))]
    except ValueError:
        names = [x509.DNSName(name)]
    names += [x509.DNSName(d) for d in dns if d != name]
    names += [x509.IPAddress(a) for a in addresses if str(a) != name]
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = (
        _builder(_name(name), ca_cert.subject, key.public_key(), now, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(files, cert, key)
    return files


def run_certs(args: Any, out: TextIO) -> None:
    """``sabot-lab certs ca`` or ``sabot-lab certs host`` (``args``, as the command line
    parsed them): write the files, then print where they are and the commands that use them.

    >>> import argparse, sys, tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> run_certs(argparse.Namespace(certs="ca", out=out, days=None, force=False), sys.stdout)
    wrote the cluster CA:
      .../ca.pem      the certificate every process trusts: SABOT_TLS_CA=.../ca.pem
      .../ca-key.pem  its key (mode 0600): it signs host certificates, keep it off the cluster
    next, a certificate for each host (JobManager, agent, client):
      sabot-lab certs host NAME --ca ... --dns NAME.example.com --ip 10.0.0.5 --out HOST_DIR
    """
    if args.certs == "ca":
        ca = create_ca(args.out, days=args.days or CA_DAYS, force=args.force)
        print(
            f"wrote the cluster CA:\n"
            f"  {ca.cert}      the certificate every process trusts: SABOT_TLS_CA={ca.cert}\n"
            f"  {ca.key}  its key (mode 0600): it signs host certificates, keep it off the "
            "cluster\n"
            "next, a certificate for each host (JobManager, agent, client):\n"
            f"  sabot-lab certs host NAME --ca {Path(args.out)} --dns NAME.example.com "
            f"--ip 10.0.0.5 --out HOST_DIR",
            file=out,
        )
        return
    host = create_host(
        args.name, args.ca, args.out, args.dns, args.ip, args.days or HOST_DAYS, args.force
    )
    ca_cert = Path(args.ca) / CA_CERT
    flags = f"--tls-cert {host.cert} --tls-key {host.key}"
    print(
        f"wrote the certificate of {args.name} ({', '.join(subject_alternative_names(host.cert))}), "
        f"signed by {ca_cert}:\n"
        f"  {host.cert}\n"
        f"  {host.key}  its key (mode 0600)\n"
        f"next, on {args.name}, with SABOT_TLS_CA={ca_cert} (add --tls-verify-client to a "
        "server to require client certificates):\n"
        f"  sabot-lab jobmanager --host 0.0.0.0 --port 8815 {flags} --workdir ...\n"
        f"  sabot-lab agent --host 0.0.0.0 --jobmanager grpc+tls://JOBMANAGER:8815 {flags}\n"
        f"  SABOT_TLS_CERT={host.cert} SABOT_TLS_KEY={host.key} "
        "sabot-lab jobs --jobmanager grpc+tls://JOBMANAGER:8815",
        file=out,
    )


def subject_alternative_names(cert: str | os.PathLike[str]) -> list[str]:
    """The subject alternative names of the PEM certificate ``cert``, as ``DNS:name`` and
    ``IP:address`` (see the module's example)."""
    loaded = x509.load_pem_x509_certificate(Path(cert).read_bytes())
    names = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [f"DNS:{n}" for n in names.get_values_for_type(x509.DNSName)] + [
        f"IP:{a}" for a in names.get_values_for_type(x509.IPAddress)
    ]


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise SabotError(
            f"not an IP address: {text!r} (give names with --dns, addresses with --ip)"
        ) from None


def _read_ca(files: CertificateFiles) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The CA's certificate and key; :class:`SabotError` naming the file when unreadable."""
    try:
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
    except OSError as exc:
        raise SabotError(
            f"cannot read the CA {exc.filename}: {exc.strerror} (make one with: "
            f"sabot-lab certs ca --out {files.cert.parent})"
        ) from None
    except ValueError as exc:
        raise SabotError(f"the CA in {files.cert.parent} is not PEM: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SabotError(f"{files.key} is not the ECDSA key of a sabot-lab CA")
    return cert, key


def _check_free(files: CertificateFiles, force: bool, consequence: str) -> None:
    """Refuse (unless ``force``) when one of ``files`` exists."""
    existing = [p for p in files.files() if p.exists()]
    if existing and not force:
        raise SabotError(f"{existing[0]} exists: pass --force to replace it ({consequence})")


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime.datetime,
    days: int,
) -> x509.CertificateBuilder:
    """A certificate valid from a minute ago (clocks differ) for ``days`` days."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _key_usage(signs_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not signs_certificates,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _write(
    files: CertificateFiles, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    """Write the key (mode 0600, from its creation) and the certificate (0644)."""
    files.cert.parent.mkdir(parents=True, exist_ok=True)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    files.key.unlink(missing_ok=True)  # (a replaced key file keeps no wider mode)
    descriptor = os.open(files.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(descriptor, "wb") as out:
        out.write(key_pem)
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
