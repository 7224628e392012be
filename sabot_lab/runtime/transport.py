"""Arrow Flight plumbing shared by agents, the JobManager and clients: bearer tokens on every
call (a server starts only with strong ones, see :mod:`.server_token`), each token granting its
:class:`~.protocol.Role` (checked per call with :func:`authorize`), TLS when a certificate is
configured (plain ``grpc://`` off loopback only with ``insecure``), JSON actions, and clear
errors for unreachable or refusing servers.

>>> server = EchoServer(token="s3cret-of-22-characters")
>>> call(server.uri, "echo", {"n": 1}, Credentials("s3cret-of-22-characters"))
{'n': 1}
>>> call(server.uri, "echo", {}, Credentials("wrong"))
Traceback (most recent call last):
...
sabot_lab.errors.AuthenticationError: grpc://127.0.0.1:...: rejected: invalid or missing bearer token
>>> server.shutdown()
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import signal
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight

from sabot_lab.config import get_config
from sabot_lab.errors import (
    REMOTE_ERRORS,
    AuthenticationError,
    ClusterError,
    NoReplyError,
    TlsError,
    UnreachableError,
)
from sabot_lab.observability.tracing import (
    TraceHeadersFactory,
    call_parent,
    configure_tracing,
    remote_parent,
    trace_headers,
)
from sabot_lab.runtime.addresses import advertised_host, server_uri
from sabot_lab.runtime.error_reports import failures_reported
from sabot_lab.runtime.protocol import JOBMANAGER_ACTIONS, Role, refusal
from sabot_lab.runtime.server_token import check_in_clear, check_server_token
from sabot_lab.runtime.tls_diagnosis import tls_problem

__all__ = [
    "ANONYMOUS",
    "PARENT_PID",
    "ClusterServer",
    "Credentials",
    "EchoServer",
    "ServerTls",
    "TokenMiddlewareFactory",
    "action_result",
    "authorize",
    "call",
    "dispatch",
    "put_table",
    "serve_until_stopped",
]

_AUTH = "authorization"
_log = logging.getLogger("sabot_lab.server")


class TokenMiddlewareFactory(flight.ServerMiddlewareFactory):
    """Rejects every call whose ``authorization`` header is not ``Bearer <token>`` for one of
    the ``tokens``; a call accepted carries the :class:`CallerRole` of the token it presented
    (``context.get_middleware("auth")``). Every header value is compared with every token, in
    the same time whatever they hold (:func:`hmac.compare_digest`).

    >>> check = TokenMiddlewareFactory({Role.SUBMIT: "s3cret", Role.READ: "r3ad"})
    >>> check.start_call(None, {"authorization": ["Bearer r3ad"]}).role
    <Role.READ: 'read'>
    >>> check.start_call(None, {"authorization": ["Bearer s3cres"]})
    Traceback (most recent call last):
    ...
    pyarrow._flight.FlightUnauthenticatedError: invalid or missing bearer token
    """

    def __init__(self, tokens: Mapping[Role, str]) -> None:
        super().__init__()
        self._expected = [(role, f"Bearer {token}".encode()) for role, token in tokens.items()]

    def start_call(self, info: flight.CallInfo, headers: dict[str, list[str]]) -> CallerRole:
        values = headers.get(_AUTH) or headers.get(_AUTH.title()) or []
        matches = [
            role
            for value in values
            for role, expected in self._expected
            if hmac.compare_digest(value.encode("utf-8", "surrogateescape"), expected)
        ]
        if not matches:
            raise flight.FlightUnauthenticatedError("invalid or missing bearer token")
        return CallerRole(matches[0])


class CallerRole(flight.ServerMiddleware):
    """The role of the token a call presented (see :class:`TokenMiddlewareFactory`)."""

    def __init__(self, role: Role) -> None:
        super().__init__()
        self.role = role


def authorize(context: flight.ServerCallContext, action: str) -> None:
    """Refuse the JobManager's call ``action`` unless it is one of
    :data:`~.protocol.JOBMANAGER_ACTIONS` and the caller's role may make it (a server started
    without tokens, ``--insecure`` on loopback, lets every caller make every listed call)."""
    if action not in JOBMANAGER_ACTIONS:
        raise flight.FlightServerError(f"unknown action {action!r}")
    caller = context.get_middleware("auth")
    problem = refusal(action, caller.role) if isinstance(caller, CallerRole) else None
    if problem is not None:
        raise flight.FlightUnauthorizedError(problem)


@dataclass(frozen=True)
class Credentials:
    """What a client presents to a cluster's servers: the bearer token (never shown in the
    ``repr``), the PEM certificates it trusts for ``grpc+tls://`` servers (the system's
    roots when ``None``), and its own certificate and key for servers that require one
    (mutual TLS; the key is never shown either). A plain ``grpc://`` server that is not on
    loopback is refused (the token would cross the network in clear) unless ``insecure``.

    >>> Credentials("s3cret").options().headers
    [(b'authorization', b'Bearer s3cret')]
    >>> Credentials("s3cret")
    Credentials(tls_ca=None, insecure=False, tls_cert=None)
    """

    token: str | None = field(default=None, repr=False)
    tls_ca: bytes | None = None
    insecure: bool = False
    tls_cert: bytes | None = None
    tls_key: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_env(
        cls,
        token: str | None = None,
        tls_ca: str | None = None,
        insecure: bool = False,
        role: Role = Role.SUBMIT,
        tls_cert: str | None = None,
        tls_key: str | None = None,
    ) -> Credentials:
        """Credentials from the arguments, else the token of ``role`` from its environment
        variable (``SABOT_TOKEN`` for ``submit``), ``SABOT_TLS_CA`` (a path to a PEM file)
        and, for mutual TLS, ``SABOT_TLS_CERT`` and ``SABOT_TLS_KEY`` (this client's
        certificate and key, PEM files).

        >>> Credentials.from_env("t", tls_ca="/nonexistent/ca.pem")
        Traceback (most recent call last):
        ...
        sabot_lab.errors.ClusterError: cannot read the TLS certificates /nonexistent/ca.pem: No such file or directory
        >>> Credentials.from_env("t", tls_cert="cert.pem")
        Traceback (most recent call last):
        ...
        sabot_lab.errors.ClusterError: a client certificate needs its key: give both tls_cert and tls_key (SABOT_TLS_CERT and SABOT_TLS_KEY, --tls-cert and --tls-key)
        """
        token = token if token is not None else os.environ.get(role.variable)
        cert_path = tls_cert or os.environ.get("SABOT_TLS_CERT")
        key_path = tls_key or os.environ.get("SABOT_TLS_KEY")
        if bool(cert_path) != bool(key_path):
            raise ClusterError(
                "a client certificate needs its key: give both tls_cert and tls_key "
                "(SABOT_TLS_CERT and SABOT_TLS_KEY, --tls-cert and --tls-key)"
            )
        ca, cert, key = (
            _read_pem(path)
            for path in (tls_ca or os.environ.get("SABOT_TLS_CA"), cert_path, key_path)
        )
        return cls(token or None, ca, insecure, cert, key)

    def presenting(self, tls: ServerTls | None) -> Credentials:
        """These credentials presenting the certificate of ``tls`` (a server's) to the
        servers they call, unless they present one already: one certificate for both ends
        of mutual TLS."""
        if tls is None or self.tls_cert is not None:
            return self
        return replace(self, tls_cert=tls.cert.read_bytes(), tls_key=tls.key.read_bytes())

    def options(self, timeout: float | None = None) -> flight.FlightCallOptions:
        """Call options carrying the bearer token, and the current span when tracing (see
        :mod:`sabot_lab.observability.tracing`)."""
        headers = [(_AUTH.encode(), f"Bearer {self.token}".encode())] if self.token else []
        return flight.FlightCallOptions(headers=headers + trace_headers(), timeout=timeout)

    def client(self, uri: str) -> flight.FlightClient:
        """The Flight client for ``uri`` (``grpc://host:port`` or ``grpc+tls://host:port``),
        shared by every call in this process: a connection is made once, not per call. Raises
        :class:`~sabot_lab.errors.ClusterError` for a plain ``grpc://`` ``uri`` off loopback
        unless :attr:`insecure` (see :func:`.server_token.check_in_clear`)."""
        check_in_clear(uri, self.insecure)
        key = (uri, self.tls_ca, self.tls_cert)
        with _CLIENTS_LOCK:
            client = _CLIENTS.get(key)
            if client is None:
                options: dict[str, Any] = {}
                if uri.startswith("grpc+tls://"):
                    if self.tls_ca is not None:
                        options["tls_root_certs"] = self.tls_ca
                    if self.tls_cert is not None:
                        options.update(cert_chain=self.tls_cert, private_key=self.tls_key)
                client = flight.connect(uri, **options)
                _CLIENTS[key] = client
            return client

    def forget(self, uri: str) -> None:
        """Drop the shared client of ``uri`` (its server went away; the next call
        connects afresh)."""
        with _CLIENTS_LOCK:
            _CLIENTS.pop((uri, self.tls_ca, self.tls_cert), None)

    def tls_failure(self, uri: str) -> TlsError | None:
        """Why a TLS handshake with ``uri`` fails with these credentials, as the error to
        raise (see :func:`.tls_diagnosis.tls_problem`); None when it does not."""
        problem = tls_problem(uri, self.tls_ca, self.tls_cert, self.tls_key)
        return None if problem is None else TlsError(f"{uri}: TLS handshake failed: {problem}")


def _read_pem(path: str | None) -> bytes | None:
    try:
        return Path(path).read_bytes() if path else None
    except OSError as exc:
        raise ClusterError(f"cannot read the TLS certificates {path}: {exc.strerror}") from None


_CLIENTS: dict[tuple[str, bytes | None, bytes | None], flight.FlightClient] = {}
_CLIENTS_LOCK = threading.Lock()


ANONYMOUS = Credentials()
"""No token, the system's TLS roots: for servers started without a token."""


@dataclass(frozen=True)
class ServerTls:
    """A server's certificate chain and private key: paths of PEM files. With
    ``verify_client`` (mutual TLS) its Flight port accepts only clients presenting a
    certificate signed by the CA it trusts (its credentials' ``tls_ca``, ``SABOT_TLS_CA``);
    its HTTP endpoint still takes tokens alone, for browsers and Prometheus."""

    cert: Path
    key: Path
    verify_client: bool = False

    def ssl_context(self) -> ssl.SSLContext:
        """A server-side TLS context (for the HTTP endpoint)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


class ClusterServer(flight.FlightServerBase):
    """A Flight server of a cluster on ``host:port`` (any free port for 0): it presents
    ``auth`` (the cluster credential) when it calls other servers, and speaks TLS with
    ``tls``, presenting its certificate to the servers it calls too (mutual TLS); with
    ``tls.verify_client`` it requires clients to present one signed by ``auth.tls_ca``.
    :attr:`uri` is where others reach it: on ``host``, or on ``advertise_host``
    (default: the ``advertise_host`` setting) when given; on a wildcard ``host`` without
    one, at an address found toward the host ``toward`` (see :mod:`.addresses`), never at
    the wildcard.

    It accepts the ``tokens`` of each role (default: the cluster token of ``auth`` alone);
    calls with none of them are rejected, and those accepted carry their role (see
    :func:`authorize`). A ``read`` token may be None; the others must be strong and all
    must differ (see :func:`.server_token.check_server_token`, which raises
    :class:`~sabot_lab.errors.ClusterError` otherwise); with ``insecure`` on a loopback
    ``host`` it also starts without them, and says so on stderr. Serving plain ``grpc://``
    on a ``host`` that is not loopback (tokens in clear) needs ``insecure`` too, which then
    also lets ``auth`` call plain ``grpc://`` servers off loopback.

    :attr:`failure` says why the server stopped on its own, when it did
    (:func:`serve_until_stopped` then raises it).
    """

    def __init__(
        self,
        host: str,
        port: int,
        auth: Credentials,
        tls: ServerTls | None = None,
        insecure: bool = False,
        tokens: Mapping[Role, str | None] | None = None,
        advertise_host: str | None = None,
        toward: str | None = None,
    ) -> None:
        scheme = "grpc+tls" if tls else "grpc"
        advertise_host = advertise_host or get_config().cluster.advertise_host
        advertised = advertised_host(host, advertise_host, toward)  # before listening
        accepted = _accepted_tokens(tokens or {Role.CLUSTER: auth.token}, host, insecure)
        warning = check_in_clear(server_uri(scheme, host, port), insecure)
        if warning is not None:
            print(f"sabot-lab: {warning}", file=sys.stderr, flush=True)
        self.failure: str | None = None
        middleware: dict[str, flight.ServerMiddlewareFactory] = {"trace": TraceHeadersFactory()}
        if accepted:
            middleware["auth"] = TokenMiddlewareFactory(accepted)
        options: dict[str, Any] = {"middleware": middleware}
        if tls:
            options.update(_tls_options(tls, auth))
        super().__init__(f"{scheme}://{host}:{port}", **options)
        self.uri = server_uri(scheme, advertised, self.port)
        auth = auth.presenting(tls)
        self.auth = replace(auth, insecure=True) if insecure else auth

    # Flight calls a subclass does not serve: a clear refusal, not pyarrow's default (a
    # NotImplementedError, whose traceback would reach the caller).
    def do_get(self, context: flight.ServerCallContext, ticket: flight.Ticket) -> Any:
        raise _unserved("do_get")

    def do_put(self, context: flight.ServerCallContext, *args: Any) -> None:
        raise _unserved("do_put")

    def do_exchange(self, context: flight.ServerCallContext, *args: Any) -> None:
        raise _unserved("do_exchange")

    def get_flight_info(self, context: flight.ServerCallContext, *args: Any) -> Any:
        raise _unserved("get_flight_info")

    def get_schema(self, context: flight.ServerCallContext, *args: Any) -> Any:
        # pyarrow sends the traceback of any error raised here (a Flight error too): answer
        # with no columns instead.
        return flight.SchemaResult(pa.schema([]))

    def list_actions(self, context: flight.ServerCallContext) -> list[tuple[str, str]]:
        return []

    def list_flights(self, context: flight.ServerCallContext, *args: Any) -> Any:
        raise _unserved("list_flights")


def _tls_options(tls: ServerTls, auth: Credentials) -> dict[str, Any]:
    """The Flight server's TLS options: its certificate, and the CA its clients' certificates
    must be signed by when it verifies them."""
    try:
        options: dict[str, Any] = {
            "tls_certificates": [flight.CertKeyPair(tls.cert.read_bytes(), tls.key.read_bytes())]
        }
    except OSError as exc:
        raise ClusterError(
            f"cannot read the TLS certificates {exc.filename}: {exc.strerror}"
        ) from None
    if tls.verify_client:
        if auth.tls_ca is None:
            raise ClusterError(
                "--tls-verify-client needs the CA that signs the clients' certificates: set "
                "SABOT_TLS_CA (or --tls-ca) to the cluster's CA certificate"
            )
        options.update(verify_client=True, root_certificates=auth.tls_ca)
    return options


def _unserved(method: str) -> flight.FlightServerError:
    return flight.FlightServerError(f"this server does not serve {method}")


def _accepted_tokens(
    tokens: Mapping[Role, str | None], host: str, insecure: bool
) -> dict[Role, str]:
    """The tokens a server on ``host`` accepts, by role, once checked: each strong (a ``read``
    token may be None), or ``insecure`` on loopback (said on stderr); all different."""
    warnings = []
    for role, token in tokens.items():
        if role is not Role.READ or token is not None:
            warnings.append(check_server_token(token, host, insecure, role.variable))
    for warning in dict.fromkeys(w for w in warnings if w is not None):
        print(f"sabot-lab: {warning}", file=sys.stderr, flush=True)
    accepted = {role: token for role, token in tokens.items() if token}
    same = [role.variable for role, token in accepted.items() if token in _others(accepted, role)]
    if same:
        raise ClusterError(f"{' and '.join(same)} must differ: each token grants its own role")
    return accepted


def _others(tokens: Mapping[Role, str], role: Role) -> list[str]:
    return [token for other, token in tokens.items() if other is not role]


def call(
    uri: str,
    name: str,
    payload: Any = None,
    auth: Credentials = ANONYMOUS,
    timeout: float = 30.0,
) -> Any:
    """Run the JSON action ``name`` on the Flight server at ``uri`` and return its JSON reply."""
    with _failures_raised(uri, name, auth, timeout):
        body = json.dumps(payload if payload is not None else {}).encode()
        action = flight.Action(name, body)
        results = list(auth.client(uri).do_action(action, auth.options(timeout)))
    return json.loads(results[0].body.to_pybytes()) if results else None


def put_table(
    uri: str, command: str, table: pa.Table, auth: Credentials = ANONYMOUS, timeout: float = 600.0
) -> None:
    """Send ``table`` to the Flight server at ``uri`` (``do_put``, the descriptor's command
    ``command``); errors are raised as :func:`call` raises them."""
    with _failures_raised(uri, "upload", auth, timeout):
        descriptor = flight.FlightDescriptor.for_command(command)
        writer, _ = auth.client(uri).do_put(descriptor, table.schema, auth.options(timeout))
        with writer:
            writer.write_table(table)


@contextlib.contextmanager
def _failures_raised(uri: str, name: str, auth: Credentials, timeout: float) -> Iterator[None]:
    """Turn the Flight errors of call ``name`` to ``uri`` into sabot-lab errors."""
    try:
        yield
    except (flight.FlightUnauthenticatedError, flight.FlightUnauthorizedError) as exc:
        raise AuthenticationError(f"{uri}: rejected: {_message(exc)}") from None
    except flight.FlightUnavailableError as exc:
        auth.forget(uri)
        raise auth.tls_failure(uri) or UnreachableError(
            f"{uri}: unreachable ({_message(exc)})"
        ) from None
    except flight.FlightTimedOutError:  # (its connection may be stuck: the next call makes one)
        auth.forget(uri)
        raise NoReplyError(f"{uri}: no reply to {name!r} within {timeout:g} s") from None
    except flight.FlightServerError as exc:
        error = REMOTE_ERRORS.get((exc.extra_info or b"").decode(errors="replace"), ClusterError)
        raise error(f"{uri}: {name} failed: {_message(exc)}") from None
    except pa.ArrowException as exc:
        raise ClusterError(f"{uri}: {name} failed: {_message(exc)}") from None


def action_result(value: Any) -> Iterator[flight.Result]:
    """The reply of a JSON action (server side)."""
    yield flight.Result(json.dumps(value).encode())


def dispatch(
    action: flight.Action,
    handlers: Mapping[str, Callable[[dict[str, Any]], Any]],
    context: flight.ServerCallContext | None = None,
) -> Iterator[flight.Result]:
    """Serve a JSON action with its handler (server side): the body decoded, the reply
    encoded, and an unknown action or a failure turned into a Flight error (a sabot-lab
    error's message; for anything else its message and an error id, the traceback logged:
    see :mod:`.error_reports`). The handler runs under the caller's span, when the call
    ``context`` carried one."""
    handler = handlers.get(action.type)
    if handler is None:
        raise flight.FlightServerError(f"unknown action {action.type!r}")
    try:
        body = json.loads(action.body.to_pybytes() or b"{}")
    except (ValueError, RecursionError) as exc:  # (RecursionError: nested too deep)
        raise flight.FlightServerError(f"{action.type}: the body is not JSON ({exc})") from None
    with remote_parent(call_parent(context)), failures_reported(f"action {action.type!r}", _log):
        return action_result(handler(body))


def serve_until_stopped(server: ClusterServer, label: str) -> None:
    """Serve until SIGTERM or SIGINT, after printing ``sabot-lab <label> ready <uri>`` (the
    line :class:`~sabot_lab.client.LocalCluster` waits for); raise :class:`ClusterError` if
    the server stopped on its own (its :attr:`~ClusterServer.failure`). Spans are exported
    as the environment asks (see :func:`~sabot_lab.observability.tracing.configure_tracing`)."""
    configure_tracing(f"sabot-lab-{label}")
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: server.shutdown())
    parent = os.environ.get(PARENT_PID)
    if parent:
        watch = threading.Thread(target=_stop_when_orphaned, args=(server, int(parent)))
        watch.daemon = True
        watch.start()
    print(f"sabot-lab {label} ready {server.uri}", flush=True)
    server.serve()
    if server.failure is not None:
        raise ClusterError(server.failure)


PARENT_PID = "SABOT_PARENT_PID"
"""The variable naming the process whose servers these are (a ``LocalCluster``'s): they stop
when it has gone, however it ended, rather than run on as orphans."""


def _stop_when_orphaned(server: ClusterServer, parent: int) -> None:
    """Stop ``server`` (gracefully) once this process's parent is no longer ``parent``."""
    while os.getppid() == parent:
        time.sleep(0.5)
    server.shutdown()


def _message(exc: BaseException) -> str:
    text = str(exc).split(". Detail:")[0]
    return text.split("gRPC client debug context")[0].strip().rstrip(".")


class EchoServer(ClusterServer):
    """A Flight server with one action, ``echo``: for trying the plumbing (and its doctests)."""

    def __init__(self, token: str, tls: ServerTls | None = None) -> None:
        super().__init__("127.0.0.1", 0, Credentials(token), tls)
        threading.Thread(target=self.serve, daemon=True).start()

    def do_action(
        self, context: flight.ServerCallContext, action: flight.Action
    ) -> Iterator[flight.Result]:
        return dispatch(action, {"echo": lambda body: body})
