"""A TCP proxy on loopback whose connections can be cut for a while: what clients see when a
broker restarts (every connection drops, new ones are refused until it is back); or whose
replies can be swallowed: what a client sees of a server that took its request and froze; or
left stale by a network partition that heals: what a client that keeps its connections sees
of a peer that gave them up while it could not reach it; or silenced: what a server sees of a
client the network cut off (its connection open, nothing more arriving)."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time


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
        self._silent = False
        self._stale: dict[socket.socket, bool] = {}  # client end -> still partitioned
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

    def silence(self) -> None:
        """From now on, drop everything sent either way and keep every connection open, as
        a network that drops a host's frames: neither end learns that the other is gone."""
        self._silent = True

    def partition(self) -> None:
        """Cut the network under the open connections, silently: what their clients send is
        dropped, and the server gives them up (its ends close); their clients see nothing
        until :meth:`heal`."""
        with self._lock:
            clients, servers = self._open[::2], self._open[1::2]
            self._stale.update(dict.fromkeys(clients, True))
            self._open.clear()
        for server in servers:
            _shut(server)

    def heal(self) -> None:
        """End :meth:`partition`: the connections it left open are reset when their clients
        next send (the server no longer knows them), as a host that healed answers a
        connection it forgot; new connections pass."""
        with self._lock:
            self._stale.update(dict.fromkeys(self._stale, False))

    def close(self) -> None:
        self._closed = True
        self.cut(0)
        self._listener.close()
        with self._lock:
            stale, self._stale = list(self._stale), {}
        for client in stale:
            _shut(client)

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
            upstream.settimeout(None)  # (5 s to connect; then as long as the client keeps it)
            with self._lock:
                self._open += [client, upstream]
            threading.Thread(target=self._requests, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._replies, args=(upstream, client), daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            while data := client.recv(65536):
                partitioned = self._stale.get(client)
                if self._silent:
                    continue
                if partitioned is None:
                    upstream.sendall(data)
                elif not partitioned:  # healed: the server has forgotten this connection
                    self._stale.pop(client, None)
                    _reset(client)
                    return
        except OSError:
            pass
        self._stale.pop(client, None)
        _shut(client)
        _shut(upstream)

    def _replies(self, upstream: socket.socket, client: socket.socket) -> None:
        try:
            while data := upstream.recv(65536):
                if not (self._muted or self._silent):
                    client.sendall(data)
        except OSError:
            pass
        _shut(upstream)
        if client not in self._stale and not self._silent:  # (both leave the client's end open)
            _shut(client)


def _shut(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    s.close()


def _reset(s: socket.socket) -> None:
    """Close ``s`` with a reset (RST), as a host answers a connection it does not know."""
    with contextlib.suppress(OSError):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
