"""The REST handlers of the JupyterLab server extension, under ``<base_url>sabot/``,
authenticated by Jupyter's own auth (jupyter_server's :class:`APIHandler`):

- ``GET clusters``: every cluster reached, with its agents and newest jobs;
- ``POST clusters`` (``{"uri", "token", "name"?, "tls_ca"?}``): watch a remote JobManager;
- ``DELETE clusters/<key>``: stop watching a remote one;
- ``POST clusters/<key>/stop``: stop a local cluster;
- ``POST clusters/<key>/jobs/<job_id>/cancel``: cancel a job of a local cluster;
- ``GET clusters/<key>/jobs/<job_id>``: what the job tab shows of a job
  (:mod:`sabot_lab.lab.job_detail`);
- ``POST clusters/<key>/jobs/<job_id>/savepoint``: take a savepoint of a running job of a
  local cluster (``{"path"}``);
- ``POST local-clusters`` (``{"agents"?}``): start a local cluster owned by the Jupyter
  server (:mod:`sabot_lab.lab.server_clusters`); ``clusters/<key>/stop`` stops it.

Calls to the JobManagers block, so they run on worker threads; no reply holds a token.

May import: :mod:`sabot_lab.lab.reachable`, :mod:`sabot_lab.lab.overview`,
:mod:`sabot_lab.lab.job_detail`, :mod:`sabot_lab.lab.server_clusters`,
:mod:`sabot_lab.client.job`, :mod:`sabot_lab.errors`, jupyter_server and tornado.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from sabot_lab.client.job import Job
from sabot_lab.errors import ClusterError
from sabot_lab.lab.job_detail import JobDetails
from sabot_lab.lab.overview import Overview
from sabot_lab.lab.reachable import NotReached, Reachable
from sabot_lab.lab.server_clusters import ServerClusters

__all__ = ["routes"]

_KEY = r"(?P<key>(?:local|remote)-[0-9a-f]+)"
_JOB = r"(?P<job_id>[A-Za-z0-9_.-]+)"


class _SabotHandler(APIHandler):
    """What every handler shares: the clusters reached and the overview that lists them."""

    def initialize(
        self,
        reachable: Reachable,
        overview: Overview,
        lock: threading.Lock,
        details: JobDetails,
        started: ServerClusters,
    ) -> None:
        self.reachable = reachable
        self.overview = overview
        self.lock = lock
        self.details = details
        self.started = started

    async def blocking(self, work: Any, *args: Any) -> Any:
        """``work(*args)`` on a worker thread; a :class:`ClusterError` becomes a 400 reply
        that says what was wrong (404 for a cluster no longer reached)."""
        try:
            return await asyncio.to_thread(work, *args)
        except NotReached as exc:
            raise tornado.web.HTTPError(404, str(exc)) from None
        except ClusterError as exc:
            raise tornado.web.HTTPError(400, str(exc)) from None

    def reply(self, body: Any) -> None:
        """Finish with ``body`` as JSON."""
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))


class ClustersHandler(_SabotHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        self.reply({"clusters": await self.blocking(self._clusters), "at": time.time()})

    def _clusters(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {**c.to_dict(), **self.overview.of(c.key, self.reachable.reader(c.key))}
                for c in self.reachable.clusters()
            ]

    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.get_json_body() or {}
        if not isinstance(body, dict) or not isinstance(body.get("uri"), str):
            raise tornado.web.HTTPError(400, 'give the JobManager as {"uri": ..., "token": ...}')
        added = await self.blocking(
            self.reachable.add, body["uri"], body.get("token"), body.get("name"), body.get("tls_ca")
        )
        self.set_status(201)
        self.reply({"cluster": added.to_dict()})


class ClusterHandler(_SabotHandler):
    @tornado.web.authenticated
    async def delete(self, key: str) -> None:
        await self.blocking(self.reachable.remove, key)
        self.set_status(204)
        self.finish()


class StopHandler(_SabotHandler):
    @tornado.web.authenticated
    async def post(self, key: str) -> None:
        def stop() -> None:
            if not self.started.stop(key):
                self.reachable.stop(key)

        await self.blocking(stop)
        self.reply({"stopped": key})


class CancelHandler(_SabotHandler):
    @tornado.web.authenticated
    async def post(self, key: str, job_id: str) -> None:
        def cancel() -> str:
            return Job(self.reachable.controller(key), job_id).cancel()

        self.reply({"job_id": job_id, "state": await self.blocking(cancel)})


class JobHandler(_SabotHandler):
    @tornado.web.authenticated
    async def get(self, key: str, job_id: str) -> None:
        def read() -> dict[str, Any]:
            reached = self.reachable.find(key)
            controller = self.reachable.controller(key) if reached.controlled else None
            return self.details.read(key, self.reachable.reader(key), controller, job_id)

        self.reply(await self.blocking(read))


class SavepointHandler(_SabotHandler):
    @tornado.web.authenticated
    async def post(self, key: str, job_id: str) -> None:
        def savepoint() -> str:
            return Job(self.reachable.controller(key), job_id).savepoint()

        self.reply({"job_id": job_id, "path": await self.blocking(savepoint)})


class NewClusterHandler(_SabotHandler):
    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.get_json_body() or {}
        agents = body.get("agents", 2) if isinstance(body, dict) else None
        key = await self.blocking(self.started.start, agents)
        self.set_status(201)
        self.reply({"cluster": self.reachable.find(key).to_dict()})


def routes(base_url: str, reachable: Reachable | None = None) -> list[tuple[str, Any, Any]]:
    """The handlers with their URL patterns under ``base_url``, sharing one
    :class:`Reachable` (a new one by default) and one :class:`Overview`.

    >>> [pattern for pattern, _, _ in routes("/")][:2]
    ['/sabot/clusters', '/sabot/clusters/(?P<key>(?:local|remote)-[0-9a-f]+)']
    """
    shared = {
        "reachable": reachable or Reachable(),
        "overview": Overview(),
        "lock": threading.Lock(),
        "details": JobDetails(),
        "started": ServerClusters(),
    }
    paths = [
        ("clusters", ClustersHandler),
        (f"clusters/{_KEY}", ClusterHandler),
        (f"clusters/{_KEY}/stop", StopHandler),
        (f"clusters/{_KEY}/jobs/{_JOB}/cancel", CancelHandler),
        (f"clusters/{_KEY}/jobs/{_JOB}", JobHandler),
        (f"clusters/{_KEY}/jobs/{_JOB}/savepoint", SavepointHandler),
        ("local-clusters", NewClusterHandler),
    ]
    return [(url_path_join(base_url, "sabot", path), handler, shared) for path, handler in paths]
