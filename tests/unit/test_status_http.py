"""The HTTP status endpoint over real HTTP, in this process: one-time dashboard links open a
session cookie once, a used or expired code is refused, the cookie or a bearer token grants the
API and nothing else does (a token in the URL neither); its event loop is its own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sabot_lab.config import get_config, set_config
from sabot_lab.runtime.jobmanager.http import SESSION_COOKIE, StatusHttpServer
from tests.support.browser_http import Browser, single_request
from tests.support.polling import wait_for

TOKENS = ["read-token-0123456789abcdef", "submit-token-0123456789abcdef"]
JOBS = [{"job_id": "j1", "name": "first", "state": "FINISHED"}]


class Api:
    def __init__(self) -> None:
        self.pages: list[tuple[int, str | None]] = []

    def jobs(self, limit: int = 100, before: str | None = None) -> list[dict[str, Any]]:
        self.pages.append((limit, before))
        return JOBS[:limit]

    def job_view(self, job_id: str) -> dict[str, Any]:
        return {"job_id": job_id}

    def agents(self) -> list[dict[str, Any]]:
        return []

    def metrics_text(self) -> str:
        return "sabot_jobs 1\n"


@pytest.fixture
def server() -> Iterator[StatusHttpServer]:
    served = StatusHttpServer(Api(), tokens=TOKENS)
    yield served
    served.shutdown()


def code_of(link: str) -> str:
    return link.split("/login?code=", 1)[1]


def test_a_code_opens_a_session_once(server: StatusHttpServer) -> None:
    link = server.one_time_link()["link"]
    assert link.startswith(f"{server.url}/login?code=") and len(code_of(link)) >= 22
    assert not any(token in link for token in TOKENS)

    status, headers, _ = single_request(link)
    assert status == 303 and headers["location"] == "/"
    cookie = headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= flags
    assert "secure" not in flags  # plain HTTP here; the HTTPS cluster test sees it
    session = cookie.split(";")[0]
    status, _, body = single_request(f"{server.url}/api/jobs", {"Cookie": session})
    assert status == 200 and body == '[{"job_id": "j1", "name": "first", "state": "FINISHED"}]'

    status, headers, body = single_request(link)  # the same code again, without the cookie
    assert status == 401 and "set-cookie" not in headers and "used up or expired" in body
    status, headers, _ = single_request(link, {"Cookie": session})  # the tab that used it
    assert status == 303 and headers["location"] == "/" and "set-cookie" not in headers


def test_a_browser_follows_the_link_to_the_status_page(server: StatusHttpServer) -> None:
    browser = Browser()
    status, page = browser.get(server.one_time_link()["link"])
    assert status == 200 and "first" in page and "<h2>Jobs</h2>" in page
    assert browser.get(f"{server.url}/metrics") == (200, "sabot_jobs 1\n")
    assert browser.get(f"{server.url}/api/jobs/j1") == (200, '{"job_id": "j1"}')
    assert Browser().get(f"{server.url}/api/jobs")[0] == 401  # another browser: no cookie


def test_an_expired_code_is_refused() -> None:
    before = get_config()
    set_config(before.replace(dashboard_code_ttl=0.05))
    try:
        server = StatusHttpServer(Api(), tokens=TOKENS)
    finally:
        set_config(before)
    try:
        issued = time.monotonic()
        link = server.one_time_link()
        assert link["expires_in"] == 0.05
        wait_for(lambda: time.monotonic() > issued + 0.1)
        status, headers, _ = single_request(link["link"])
        assert status == 401 and "set-cookie" not in headers
        fresh = StatusHttpServer(Api(), tokens=TOKENS)  # the default: a minute
        try:
            assert fresh.one_time_link()["expires_in"] == 60.0
        finally:
            fresh.shutdown()
    finally:
        server.shutdown()


@pytest.mark.parametrize("path", ["/", "/api/jobs", "/api/agents", "/api/jobs/j1", "/metrics"])
def test_only_a_bearer_token_or_a_session_grants_a_page(
    server: StatusHttpServer, path: str
) -> None:
    url = f"{server.url}{path}"
    assert single_request(url)[0] == 401
    assert single_request(url, {"Authorization": "Bearer not-a-token"})[0] == 401
    assert single_request(url, {"Cookie": f"{SESSION_COOKIE}=made-up"})[0] == 401
    for token in TOKENS:  # any of the tokens
        assert single_request(url, {"Authorization": f"Bearer {token}"})[0] == 200
        assert single_request(f"{url}?token={token}")[0] == 401  # never in the URL
    assert single_request(f"{server.url}/login?code=")[0] == 401
    assert single_request(f"{server.url}/login")[0] == 401


def test_a_page_that_does_not_exist_is_404(server: StatusHttpServer) -> None:
    bearer = {"Authorization": f"Bearer {TOKENS[0]}"}
    assert single_request(f"{server.url}/nope", bearer)[0] == 404
    assert single_request(f"{server.url}/api/jobs/a/b", bearer)[0] == 404


def test_a_server_made_on_a_running_event_loop_leaves_that_loop_alone() -> None:
    async def main() -> tuple[int, asyncio.AbstractEventLoop]:
        server = StatusHttpServer(Api(), tokens=TOKENS)
        try:
            bearer = {"Authorization": f"Bearer {TOKENS[0]}"}
            request = asyncio.to_thread(single_request, f"{server.url}/metrics", bearer)
            status, _, _ = await request
            return status, server._loop
        finally:
            server.shutdown()

    status, loop = asyncio.run(main())
    assert status == 200 and loop.is_closed()


def test_api_jobs_is_paged_and_a_bad_page_is_refused() -> None:
    api = Api()
    served = StatusHttpServer(api, tokens=TOKENS)
    bearer = {"Authorization": f"Bearer {TOKENS[0]}"}
    try:
        status, _, _ = single_request(f"{served.url}/api/jobs?limit=1&before=j9", bearer)
        assert status == 200 and api.pages == [(1, "j9")]
        assert single_request(f"{served.url}/api/jobs", bearer)[0] == 200
        assert api.pages[-1] == (100, None)  # the default page: the newest 100
        for bad in ("limit=0", "limit=5000", "limit=ten"):
            status, _, body = single_request(f"{served.url}/api/jobs?{bad}", bearer)
            assert status == 400 and "limit" in body, (bad, body)
    finally:
        served.shutdown()


def test_a_page_query_on_another_path_is_no_concern() -> None:
    served = StatusHttpServer(Api(), tokens=TOKENS)
    bearer = {"Authorization": f"Bearer {TOKENS[0]}"}
    try:
        assert single_request(f"{served.url}/metrics?limit=ten", bearer)[0] == 200
    finally:
        served.shutdown()
