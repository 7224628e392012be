"""A TCP proxy on loopback whose connections can be cut for a while: what clients see when a
broker restarts (every connection drops, new ones are refused until it is back); or whose
replies can be swallowed: what a client sees of a server that took its request and froze."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable


class TcpProxy:
    """Forwards ``127.0.0.1:port`` to ``target`` (``host:port``) until :meth:`close`."""

    def __init__(self, target: str, port: int = 0) -> None:
        host, target_port = target.rsplit(":", 1)
        self.target = (host, int(target_port))
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = self._listener.getsockname()[1]
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._closed = False
        self._muted = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self, seconds: float) -> None:
        """Drop every connection now and refuse new ones for ``seconds``."""
        with self._lock:
            self._down_until = time.monotonic() + seconds
            for s in self._open:
                _shut(s)
            self._open.clear()

    def mute(self) -> None:
        """From now on, pass requests on but drop every reply: the server acts on a request,
        and its client waits for an answer that never comes."""
        self._muted = True

    def close(self) -> None:
        self._closed = True
        self.cut(0)
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if time.monotonic() < self._down_until:
                _shut(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _shut(client)
                continue
            with self._lock:
                self._open += [client, upstream]
            for a, b, muted in ((client, upstream, None), (upstream, client, self._is_muted)):
                threading.Thread(target=_pipe, args=(a, b, muted), daemon=True).start()

    def _is_muted(self) -> bool:
        return self._muted


def _pipe(
    source: socket.socket, sink: socket.socket, muted: Callable[[], bool] | None = None
) -> None:
    try:
        while data := source.recv(65536):
            if muted is None or not muted():
                sink.sendall(data)
    except OSError:
        pass
    _shut(source)
    _shut(sink)


def _shut(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    s.close()
