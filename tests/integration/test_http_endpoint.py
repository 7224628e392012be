"""The JobManager's HTTP endpoint under idle and many connections, over real sockets to a real
JobManager process: idle connections (and, over HTTPS, one that never says hello) do not stop
``/metrics`` and ``/api/jobs`` from answering, the server closes idle connections after
``http_idle_timeout``, its threads and file descriptors stay bounded however many connections
come, and the one-time dashboard link works end to end."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import psutil
import pytest

import sabot_lab as sl
from tests.support.browser_http import Browser, single_request
from tests.support.polling import wait_for
from tests.support.tls import self_signed_certificate

IDLE_CONNECTIONS = 200


def local_cluster(settings: dict[str, str], **options: object) -> sl.LocalCluster:
    """A LocalCluster without agents whose JobManager reads ``settings`` (``SABOT_*``)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in settings.items():
            patch.setenv(name, value)
        return sl.LocalCluster(agents=0, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=["http", "https"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[sl.LocalCluster, ssl.SSLContext | None]]:
    """A cluster with the default HTTP settings, over HTTP and over HTTPS (with the context
    that trusts its certificate)."""
    if request.param == "http":
        with local_cluster({}) as cluster:
            yield cluster, None
        return
    cert, key = self_signed_certificate(tmp_path_factory.mktemp("tls"))
    with local_cluster({}, tls_cert=cert, tls_key=key) as cluster:
        yield cluster, ssl.create_default_context(cafile=str(cert))


@pytest.fixture(scope="module")
def bounded() -> Iterator[sl.LocalCluster]:
    """A cluster whose endpoint closes idle connections after 2 s and keeps at most 50, and
    whose one-time links expire after 3 s."""
    settings = {
        "SABOT_HTTP_IDLE_TIMEOUT": "2",
        "SABOT_HTTP_MAX_CONNECTIONS": "50",
        "SABOT_DASHBOARD_CODE_TTL": "3",
    }
    with local_cluster(settings) as cluster:
        yield cluster


def base_url(cluster: sl.LocalCluster) -> str:
    return cluster.dashboard_link.split("/login?", 1)[0]


def address(cluster: sl.LocalCluster) -> tuple[str, int]:
    parts = urlsplit(base_url(cluster))
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


@contextlib.contextmanager
def idle_connections(cluster: sl.LocalCluster, n: int) -> Iterator[list[socket.socket]]:
    """``n`` TCP connections to the endpoint that send nothing (no request, no TLS hello)."""
    opened: list[socket.socket] = []
    try:
        for _ in range(n):
            opened.append(socket.create_connection(address(cluster), timeout=30))
        yield opened
    finally:
        for connection in opened:
            connection.close()


def serves(url: str, headers: dict[str, str]) -> bool:
    """Whether a GET of ``url`` answers 200 now (a connection the server sheds, while it still
    counts ones the client closed, is a "not yet")."""
    try:
        return single_request(url, headers)[0] == 200
    except OSError:
        return False


def closed_by_server(connection: socket.socket) -> bool:
    """Whether the server closed ``connection`` (it reads end of stream, or a reset), after
    what the server sent before."""
    connection.settimeout(0)
    try:
        while connection.recv(65536):
            pass
    except BlockingIOError:
        return False
    except ConnectionResetError:
        pass
    return True


def answers(cluster: sl.LocalCluster, context: ssl.SSLContext | None) -> None:
    """``/metrics`` and ``/api/jobs`` answer (within the requests' 30 s timeout)."""
    bearer = {"Authorization": f"Bearer {cluster.token}"}
    status, _, text = single_request(f"{base_url(cluster)}/metrics", bearer, context)
    assert status == 200 and "sabot_jobs" in text
    status, _, body = single_request(f"{base_url(cluster)}/api/jobs", bearer, context)
    assert status == 200 and json.loads(body) == cluster.jobs()


def test_idle_connections_do_not_stop_the_endpoint(
    served: tuple[sl.LocalCluster, ssl.SSLContext | None],
) -> None:
    cluster, context = served
    with idle_connections(cluster, IDLE_CONNECTIONS):
        answers(cluster, context)
        with idle_connections(cluster, 1):  # one more, the newest, silent too
            answers(cluster, context)


def test_the_one_time_link_opens_a_session_end_to_end(
    served: tuple[sl.LocalCluster, ssl.SSLContext | None],
) -> None:
    cluster, context = served
    link = cluster.dashboard_link
    assert cluster.token and cluster.token not in link and "token" not in link
    base = base_url(cluster)
    assert link.startswith(f"{base}/login?code=")

    status, headers, _ = single_request(link, context=context)
    assert status == 303 and headers["location"] == "/"
    cookie = headers["set-cookie"]
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict"} <= flags
    assert ("secure" in flags) == base.startswith("https://")
    session = {"Cookie": cookie.split(";")[0]}
    status, _, body = single_request(f"{base}/api/jobs", session, context)
    assert status == 200 and json.loads(body) == cluster.jobs()

    assert single_request(link, context=context)[0] == 401  # used up
    assert single_request(f"{base}/api/jobs", context=context)[0] == 401
    assert single_request(f"{base}/api/jobs?token={cluster.token}", context=context)[0] == 401
    bearer = {"Authorization": f"Bearer {cluster.token}"}
    assert single_request(f"{base}/api/jobs", bearer, context)[0] == 200

    browser = Browser(context)  # a browser's tab following a fresh link
    status, page = browser.get(cluster.dashboard_link)
    assert status == 200 and "<h2>Agents</h2>" in page
    assert browser.get(f"{base}/metrics")[0] == 200


def test_idle_connections_are_closed_after_the_idle_timeout(bounded: sl.LocalCluster) -> None:
    bearer = {"Authorization": f"Bearer {bounded.token}"}
    metrics = f"{base_url(bounded)}/metrics"
    wait_for(lambda: serves(metrics, bearer), timeout=60)
    with idle_connections(bounded, 3) as silent:
        kept_alive = socket.create_connection(address(bounded), timeout=30)
        with kept_alive:
            request = f"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {bounded.token}"
            kept_alive.sendall(f"{request}\r\n\r\n".encode())
            assert kept_alive.recv(12).endswith(b" 200")
            connections = [*silent, kept_alive]
            wait_for(lambda: all(closed_by_server(c) for c in connections), timeout=60)
            assert [closed_by_server(c) for c in connections] == [True] * 4


def test_threads_and_file_descriptors_stay_bounded(bounded: sl.LocalCluster) -> None:
    assert bounded.jobmanager_process is not None
    jobmanager = psutil.Process(bounded.jobmanager_process.pid)
    bearer = {"Authorization": f"Bearer {bounded.token}"}
    metrics = f"{base_url(bounded)}/metrics"
    for _ in range(10):  # the request threads started
        wait_for(lambda: serves(metrics, bearer), timeout=60)
    threads, fds = jobmanager.num_threads(), jobmanager.num_fds()
    most_threads, most_fds = threads, fds
    opened: list[socket.socket] = []
    try:
        for _ in range(30):
            for _ in range(10):
                connection = socket.create_connection(address(bounded), timeout=30)
                opened.append(connection)
                with contextlib.suppress(OSError):  # closed at once, beyond the 50
                    connection.sendall(b"GET /metr")  # a request that never ends
            most_threads = max(most_threads, jobmanager.num_threads())
            most_fds = max(most_fds, jobmanager.num_fds())
        wait_for(lambda: sum(closed_by_server(c) for c in opened) >= 250, timeout=60)
        most_threads = max(most_threads, jobmanager.num_threads())
        most_fds = max(most_fds, jobmanager.num_fds())
    finally:
        for connection in opened:
            connection.close()
    assert most_threads <= threads + 4  # http_threads, started lazily
    assert most_fds <= fds + 50 + 10  # http_max_connections, and a few of the JobManager's own
    wait_for(lambda: serves(metrics, bearer), timeout=60)


def test_an_expired_one_time_link_is_refused(bounded: sl.LocalCluster) -> None:
    metrics = f"{base_url(bounded)}/metrics"
    wait_for(
        lambda: single_request(metrics, {"Authorization": f"Bearer {bounded.token}"})[0] == 200
    )
    link = bounded.dashboard_link
    issued = time.monotonic()  # after the JobManager issued it
    wait_for(lambda: time.monotonic() > issued + 3.0, timeout=60)
    status, headers, _ = single_request(link)
    assert status == 401 and "set-cookie" not in headers
    assert Browser().get(bounded.dashboard_link)[0] == 200  # a fresh one, followed at once
