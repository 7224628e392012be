"""The JobManager's HTTP endpoint, for browsers and monitoring.

- ``GET /``: a status page (agents and jobs, refreshed every 2 s);
- ``GET /api/jobs`` (a page, newest first: ``?limit=`` up to 1000, ``?before=<job id>`` the
  last job of the previous page), ``GET /api/jobs/<id>`` (with tasks and metrics),
  ``GET /api/agents``: JSON;
- ``GET /metrics``: the Prometheus text format;
- ``GET /health`` (no credentials needed, for load balancers and probes): this JobManager's
  role, ``{"role", "epoch", "leader"}``; ``200`` for the leader (or the only one), ``503``
  for a standby;
- ``GET /login?code=<code>``: exchanges a one-time code (:mod:`.dashboard_login`, the
  link :attr:`~sabot_lab.client.Cluster.dashboard_link` gives) for a session cookie
  (``HttpOnly``, ``SameSite=Strict``, ``Secure`` over HTTPS) and redirects to ``/``.

Every other request carries ``Authorization: Bearer <token>`` with one of the server's
``tokens``, or the session cookie; others get ``401``. A token in the URL is not accepted.
With a certificate configured the endpoint speaks HTTPS.

It is a Tornado server on an event loop of its own, in a daemon thread (it never touches the
caller's loop): a connection that sends no complete request headers within
``http_idle_timeout`` seconds is closed (so is a TLS connection that never says hello), at
most ``http_max_connections`` are open at once, and the requests' reads of the
:class:`StatusApi` run on ``http_threads`` threads (see :class:`~sabot_lab.config.ClusterConfig`).

May import: :mod:`.dashboard_login`, :mod:`sabot_lab.config`, :mod:`sabot_lab.errors`, the
wire layer's :class:`~sabot_lab.runtime.transport.ServerTls`, Tornado.

>>> class Api:
...     def jobs(self, limit=100, before=None): return [{"job_id": "j1", "state": "RUNNING"}]
...     def job_view(self, job_id): return {"job_id": job_id}
...     def agents(self): return []
...     def metrics_text(self): return "sabot_jobs 1\\n"
>>> server = StatusHttpServer(Api(), tokens=["s3cret"])
>>> import json, urllib.request
>>> bearer = {"Authorization": "Bearer s3cret"}
>>> json.load(urllib.request.urlopen(urllib.request.Request(server.url + "/api/jobs", headers=bearer)))
[{'job_id': 'j1', 'state': 'RUNNING'}]
>>> urllib.request.urlopen(server.url + "/api/jobs?token=s3cret")
Traceback (most recent call last):
...
urllib.error.HTTPError: HTTP Error 401: Unauthorized
>>> server.shutdown()
"""

from __future__ import annotations

import asyncio
import hmac
import html
import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import tornado.httpserver
import tornado.iostream
import tornado.netutil
import tornado.web

from sabot_lab.config import get_config
from sabot_lab.errors import ClusterError
from sabot_lab.runtime.addresses import server_uri
from sabot_lab.runtime.jobmanager.dashboard_login import DashboardLogins
from sabot_lab.runtime.protocol import JOBS_PAGE, JobsPage
from sabot_lab.runtime.transport import ServerTls

__all__ = ["SESSION_COOKIE", "StatusApi", "StatusHttpServer", "agents_table", "status_page"]

SESSION_COOKIE = "sabot_session"
"""The name of the cookie holding a dashboard session's id."""
MAX_HEADER_BYTES = 64 * 1024
"""The largest request headers the endpoint reads (it serves only GETs: no body)."""
STOP_TIMEOUT = 10.0
"""Seconds :meth:`StatusHttpServer.shutdown` waits for open connections to close."""


class StatusApi(Protocol):
    """What the endpoint shows (the JobManager provides it)."""

    def jobs(self, limit: int = JOBS_PAGE, before: str | None = None) -> list[dict[str, Any]]: ...
    def job_view(self, job_id: str) -> dict[str, Any]: ...
    def agents(self) -> list[dict[str, Any]]: ...
    def metrics_text(self) -> str: ...
    def role(self) -> dict[str, Any]: ...


class StatusHttpServer:
    """Serves a :class:`StatusApi` on ``host:port`` (any free port by default), from a thread
    running its own event loop.

    ``tokens``: the bearer tokens any of which grants access (empty ones count for nothing;
    without any, on an insecure cluster, every request is granted); ``tls``: serve HTTPS. :attr:`logins` issues the one-time codes of
    ``/login`` (:meth:`one_time_link`). :attr:`url` is on ``advertise_host`` when given.
    """

    def __init__(
        self,
        api: StatusApi,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: Sequence[str] = (),
        tls: ServerTls | None = None,
        advertise_host: str | None = None,
    ) -> None:
        settings = get_config().cluster
        self.logins = DashboardLogins()
        self._pool = ThreadPoolExecutor(settings.http_threads, thread_name_prefix="sabot-http-api")
        context = _Context(
            api, tuple(t for t in tokens if t), self.logins, self._pool, tls is not None
        )
        app = tornado.web.Application([(r"/.*", _Page, {"context": context})], log_function=_quiet)
        sockets = tornado.netutil.bind_sockets(port, address=host)
        scheme = "https" if tls else "http"
        self.url = server_uri(scheme, advertise_host or host, sockets[0].getsockname()[1])
        self._loop = asyncio.new_event_loop()
        self._server = _BoundedHttpServer(
            app,
            max_connections=settings.http_max_connections,
            idle_connection_timeout=settings.http_idle_timeout,
            body_timeout=settings.http_idle_timeout,
            max_header_size=MAX_HEADER_BYTES,
            max_body_size=MAX_HEADER_BYTES,
            ssl_options=tls.ssl_context() if tls else None,
        )
        self._thread = threading.Thread(
            target=self._serve, args=(sockets,), name="sabot-http", daemon=True
        )
        self._thread.start()

    def _serve(self, sockets: list[Any]) -> None:
        asyncio.set_event_loop(self._loop)

        async def listen() -> None:
            self._server.add_sockets(sockets)

        self._loop.run_until_complete(listen())
        self._loop.run_forever()

    def one_time_link(self) -> dict[str, Any]:
        """A new one-time link to the status page: ``{"link", "expires_in"}`` (seconds).

        >>> class Api:
        ...     def jobs(self, limit=100, before=None): return []
        ...     def agents(self): return []
        >>> server = StatusHttpServer(Api(), tokens=["s3cret"])  # type: ignore[arg-type]
        >>> link = server.one_time_link()
        >>> link["link"].startswith(server.url + "/login?code="), link["expires_in"]
        (True, 60.0)
        >>> server.shutdown()
        """
        code = self.logins.issue()
        return {"link": f"{self.url}/login?code={quote(code)}", "expires_in": self.logins.code_ttl}

    def shutdown(self) -> None:
        """Stop serving: close the listening sockets and every connection, end the thread."""

        async def stop() -> None:
            self._server.stop()
            await asyncio.wait_for(self._server.close_all_connections(), STOP_TIMEOUT)

        if self._loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(STOP_TIMEOUT + 1)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(STOP_TIMEOUT)
        self._loop.close()
        self._pool.shutdown(wait=False)


class _BoundedHttpServer(tornado.httpserver.HTTPServer):
    """A Tornado HTTP server that closes new connections beyond ``max_connections``."""

    def initialize(  # type: ignore[override]
        self, request_callback: Any, max_connections: int, **settings: Any
    ) -> None:
        self.max_connections = max_connections
        super().initialize(request_callback, **settings)

    def handle_stream(self, stream: tornado.iostream.IOStream, address: tuple[Any, ...]) -> None:
        if len(self._connections) >= self.max_connections:
            stream.close()
            return
        super().handle_stream(stream, address)


@dataclass(frozen=True)
class _Context:
    """What every request handler shares."""

    api: StatusApi
    tokens: tuple[str, ...]
    logins: DashboardLogins
    pool: ThreadPoolExecutor
    https: bool


class _Page(tornado.web.RequestHandler):
    context: _Context

    def initialize(self, context: _Context) -> None:
        self.context = context

    def set_default_headers(self) -> None:
        self.set_header("Server", "sabot-lab")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("X-Content-Type-Options", "nosniff")

    async def get(self) -> None:
        path = self.request.path
        if path == "/login":
            self._login()
        elif path == "/health":
            loop = asyncio.get_running_loop()
            role = await loop.run_in_executor(self.context.pool, self.context.api.role)
            self._send(503 if role["role"] == "standby" else 200, "application/json", role)
        elif not self._authorized():
            self.set_header("WWW-Authenticate", 'Bearer realm="sabot-lab"')
            self._send(401, "application/json", {"error": "invalid or missing credentials"})
        else:
            await self._serve([p for p in path.split("/") if p])

    async def _serve(self, parts: list[str]) -> None:
        api = self.context.api
        try:  # (only a listing of jobs reads its page: a query elsewhere is no concern)
            page_of_jobs = self._jobs_page() if parts == ["api", "jobs"] else JobsPage()
        except ClusterError as exc:
            self._send(400, "application/json", {"error": str(exc)})
            return
        pages: dict[tuple[str, ...], tuple[str, Callable[[], Any]]] = {
            (): ("text/html; charset=utf-8", lambda: status_page(api)),
            ("metrics",): ("text/plain; version=0.0.4; charset=utf-8", api.metrics_text),
            ("api", "jobs"): ("application/json", lambda: api.jobs(*page_of_jobs.fields())),
            ("api", "agents"): ("application/json", api.agents),
        }
        if len(parts) == 3 and parts[:2] == ["api", "jobs"]:
            page: tuple[str, Callable[[], Any]] | None = (
                "application/json",
                lambda: api.job_view(parts[2]),
            )
        else:
            page = pages.get(tuple(parts))
        if page is None:
            self._send(404, "application/json", {"error": f"no such page: {self.request.path}"})
            return
        content_type, read = page
        loop = asyncio.get_running_loop()
        try:
            body = await loop.run_in_executor(self.context.pool, read)
        except ClusterError as exc:
            self._send(404, "application/json", {"error": str(exc)})
        else:
            self._send(200, content_type, body)

    def _jobs_page(self) -> JobsPage:
        """The page of jobs the query asks for (``limit``, ``before``), checked."""
        limit = self.get_query_argument("limit", str(JOBS_PAGE))
        if not limit.isdigit():
            raise ClusterError(f"jobs: limit must be a whole number, got {limit!r}")
        return JobsPage(int(limit), self.get_query_argument("before", None))

    def _login(self) -> None:
        """Exchange a one-time code for a session cookie; a used or expired code is refused
        (unless the browser already has a session)."""
        session = self.context.logins.redeem(self.get_query_argument("code", ""))
        if session is not None:
            self.set_cookie(
                SESSION_COOKIE,
                session,
                httponly=True,
                samesite="Strict",
                secure=self.context.https,
                max_age=int(self.context.logins.session_ttl),
            )
        elif not self._has_session():
            self._send(
                401,
                "text/html; charset=utf-8",
                "<!doctype html><title>sabot-lab</title><p>This dashboard link is used up or "
                "expired. Ask for a new one: <code>cluster.dashboard_link</code>.</p>",
            )
            return
        self.redirect("/", status=303)

    def _has_session(self) -> bool:
        session = self.get_cookie(SESSION_COOKIE)
        return session is not None and self.context.logins.valid(session)

    def _authorized(self) -> bool:
        tokens = self.context.tokens
        if not tokens:
            return True
        header = self.request.headers.get("Authorization", "")
        presented = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        granted = False
        for token in tokens:  # every one compared, in constant time
            granted |= bool(presented) and hmac.compare_digest(presented.encode(), token.encode())
        return granted or self._has_session()

    def _send(self, status: int, content_type: str, body: Any) -> None:
        self.set_status(status)
        self.set_header("Content-Type", content_type)
        self.finish(body if isinstance(body, str) else json.dumps(body, default=str))


def _quiet(handler: tornado.web.RequestHandler) -> None:
    """No access log: the JobManager's log is for the cluster, not for page views."""


def agents_table(agents: list[dict[str, Any]]) -> str:
    """An HTML table of agents: URI, state, slots, running tasks.

    >>> agents_table([{"uri": "grpc://a:1", "state": "ACTIVE", "slots": 2, "running": 0}]).count("<tr>")
    2
    """
    rows = "".join(
        f"<tr><td>{html.escape(a['uri'])}</td><td>{a['state']}</td><td>{a['slots']}</td>"
        f"<td>{a['running']}</td></tr>"
        for a in agents
    )
    return (
        f"<table><tr><th>agent</th><th>state</th><th>slots</th><th>running</th></tr>{rows}</table>"
    )


def status_page(api: StatusApi) -> str:
    """The HTML status page: agents and jobs, with links to each job's JSON.

    >>> class Api:
    ...     def jobs(self, limit=100, before=None):
    ...         return [{"job_id": "j1", "name": "q", "state": "RUNNING"}]
    ...     def agents(self): return []
    >>> "href='/api/jobs/j1'" in status_page(Api())  # type: ignore[arg-type]
    True
    """
    jobs = "".join(
        f"<tr><td><a href='/api/jobs/{quote(j['job_id'])}'>{html.escape(j['job_id'])}</a>"
        f"</td><td>{html.escape(str(j['name']))}</td><td>{j['state']}</td>"
        f"<td>{html.escape(str(j.get('error') or ''))[:200]}</td></tr>"
        for j in api.jobs()
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><meta http-equiv='refresh' content='2'>"
        "<title>sabot-lab cluster</title><style>body{font-family:sans-serif}"
        "td,th{padding:2px 8px;text-align:left}</style></head><body>"
        f"<h2>Agents</h2>{agents_table(api.agents())}"
        f"<h2>Jobs</h2><table><tr><th>job</th><th>name</th><th>state</th><th>error</th></tr>{jobs}</table>"
        "<p><a href='/metrics'>metrics</a></p></body></html>"
    )
