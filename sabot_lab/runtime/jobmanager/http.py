"""The JobManager's HTTP endpoint, for browsers and monitoring.

- ``GET /``: a status page (agents and jobs, refreshed every 2 s);
- ``GET /api/jobs``, ``GET /api/jobs/<id>`` (with tasks and metrics), ``GET /api/agents``: JSON;
- ``GET /metrics``: the Prometheus text format.

Every request carries the cluster's token, as ``Authorization: Bearer <token>`` or as
``?token=<token>`` (the form :attr:`~sabot_lab.client.LocalCluster.dashboard_link` uses);
others get ``401``. With a certificate configured the endpoint speaks HTTPS.

>>> class Api:
...     def jobs(self): return [{"job_id": "j1", "state": "RUNNING"}]
...     def job_view(self, job_id): return {"job_id": job_id}
...     def agents(self): return []
...     def metrics_text(self): return "sabot_jobs 1\\n"
>>> server = StatusHttpServer(Api(), tokens=["s3cret"])
>>> import json, urllib.request
>>> json.load(urllib.request.urlopen(server.url + "/api/jobs?token=s3cret"))
[{'job_id': 'j1', 'state': 'RUNNING'}]
>>> urllib.request.urlopen(server.url + "/api/jobs")
Traceback (most recent call last):
...
urllib.error.HTTPError: HTTP Error 401: Unauthorized
>>> server.shutdown()
"""

from __future__ import annotations

import hmac
import html
import json
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, urlsplit

from sabot_lab.errors import ClusterError
from sabot_lab.runtime.transport import ServerTls

__all__ = ["StatusApi", "StatusHttpServer", "agents_table"]


class StatusApi(Protocol):
    """What the endpoint shows (the JobManager provides it)."""

    def jobs(self) -> list[dict[str, Any]]: ...
    def job_view(self, job_id: str) -> dict[str, Any]: ...
    def agents(self) -> list[dict[str, Any]]: ...
    def metrics_text(self) -> str: ...


class StatusHttpServer:
    """Serves a :class:`StatusApi` on ``host:port`` (any free port by default) from a thread."""

    def __init__(
        self,
        api: StatusApi,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: Sequence[str] = (),
        tls: ServerTls | None = None,
    ) -> None:
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        if tls is not None:
            self._httpd.socket = tls.ssl_context().wrap_socket(self._httpd.socket, server_side=True)
        self._httpd.api = api  # type: ignore[attr-defined]
        self._httpd.tokens = tokens  # type: ignore[attr-defined]
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://{host}:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, name="sabot-http", daemon=True).start()

    def shutdown(self) -> None:
        """Stop serving."""
        self._httpd.shutdown()
        self._httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    server_version = "sabot-lab"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        tokens = self.server.tokens  # type: ignore[attr-defined]
        query_token = parse_qs(url.query).get("token", [""])[0]
        if tokens and not _authorized(self.headers.get("Authorization", ""), query_token, tokens):
            self._send(401, "application/json", {"error": "invalid or missing bearer token"})
            return
        api: StatusApi = self.server.api  # type: ignore[attr-defined]
        parts = [p for p in url.path.split("/") if p]
        try:
            if parts == []:
                self._send(200, "text/html; charset=utf-8", status_page(api, query_token))
            elif parts == ["metrics"]:
                self._send(200, "text/plain; version=0.0.4; charset=utf-8", api.metrics_text())
            elif parts == ["api", "jobs"]:
                self._send(200, "application/json", api.jobs())
            elif parts == ["api", "agents"]:
                self._send(200, "application/json", api.agents())
            elif len(parts) == 3 and parts[:2] == ["api", "jobs"]:
                self._send(200, "application/json", api.job_view(parts[2]))
            else:
                self._send(404, "application/json", {"error": f"no such page: {url.path}"})
        except ClusterError as exc:
            self._send(404, "application/json", {"error": str(exc)})

    def _send(self, status: int, content_type: str, body: Any) -> None:
        data = (body if isinstance(body, str) else json.dumps(body, default=str)).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="sabot-lab"')
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the JobManager's log is for the cluster, not for page views."""


def _authorized(header: str, query_token: str, tokens: Sequence[str]) -> bool:
    presented = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    matches = [hmac.compare_digest(p, t) for p in (presented, query_token) if p for t in tokens]
    return any(matches)


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


def status_page(api: StatusApi, token: str) -> str:
    """The HTML status page: agents and jobs, with links to each job's JSON."""
    suffix = f"?token={quote(token)}" if token else ""
    jobs = "".join(
        f"<tr><td><a href='/api/jobs/{quote(j['job_id'])}{suffix}'>{html.escape(j['job_id'])}</a>"
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
        f"<p><a href='/metrics{suffix}'>metrics</a></p></body></html>"
    )
