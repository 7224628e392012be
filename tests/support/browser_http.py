"""HTTP requests as a browser makes them to a JobManager's endpoint: with a cookie jar, or one
request at a time without following redirects."""

from __future__ import annotations

import http.client
import ssl
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from urllib.parse import urlsplit


class Browser:
    """A cookie jar and the redirects followed, like a browser's tab."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self.cookies = CookieJar()
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies),
            urllib.request.HTTPSHandler(context=context),
        )

    def get(self, url: str, token: str | None = None) -> tuple[int, str]:
        """``(status, body)`` of a GET (redirects followed), with the token as a bearer
        header when given."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            with self._opener.open(urllib.request.Request(url, headers=headers), timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


def single_request(
    url: str, headers: dict[str, str] | None = None, context: ssl.SSLContext | None = None
) -> tuple[int, dict[str, str], str]:
    """``(status, headers, body)`` of one GET, not following a redirect (``Set-Cookie`` headers
    joined by newlines)."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    if parts.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=30, context=context
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request("GET", target or "/", headers=headers or {})
        reply = connection.getresponse()
        found: dict[str, str] = {}
        for name, value in reply.getheaders():
            key = name.lower()
            found[key] = f"{found[key]}\n{value}" if key in found else value
        return reply.status, found, reply.read().decode()
    finally:
        connection.close()
