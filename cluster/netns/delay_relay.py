"""A TCP relay that delays what it forwards: the delay and jitter of a slow network link,
emulated in userspace for kernels without ``tc netem`` (see
:meth:`cluster.netns.virtual_hosts.VirtualCluster.impair`).

It runs inside a host's namespace, where an nftables ``nat`` rule redirects the host's new
TCP connections toward the impaired peers to it
(:func:`cluster.netns.impairment.redirect_rules`); it finds where
each connection was going (``SO_ORIGINAL_DST``), connects there itself with a socket mark
the rule lets through (``SO_MARK``), and forwards both directions, each chunk read held back
``delay ± jitter`` seconds (uniformly drawn). Chunks of one direction leave in the order they
came (a chunk never overtakes the one before; TCP would reorder them anyway): what netem's
jitter does to a TCP stream, seen by the applications. Connections opened before the rule
are not relayed.

Run as ``python -m cluster.netns.delay_relay --port P --delay 0.1 --jitter 0.02``; it prints
``delay relay ready PORT`` once it listens, and a line ``relayed SOURCE -> TARGET`` for each
connection it forwards. May import the standard library and
:mod:`cluster.netns.impairment` only.

>>> original_destination(bytes.fromhex("0002 1f90 0a4d0003") + bytes(8))
('10.77.0.3', 8080)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import socket
import struct
import sys
import time
from collections.abc import Sequence

from cluster.netns.impairment import MARK

__all__ = [
    "main",
    "original_destination",
    "parser",
    "relay",
    "serve",
]

_SO_ORIGINAL_DST = 80  # (linux/netfilter_ipv4.h)
_SO_MARK = 36  # (asm-generic/socket.h)
_CHUNK = 65536
_IN_FLIGHT = 256  # chunks held per direction (16 MB at most): beyond, reading waits


def original_destination(sockaddr: bytes) -> tuple[str, int]:
    """The address and port of a ``struct sockaddr_in`` (what ``SO_ORIGINAL_DST`` gives).

    >>> original_destination(bytes.fromhex("0002 0050 7f000001") + bytes(8))
    ('127.0.0.1', 80)
    """
    port, address = struct.unpack_from("!2xH4s", sockaddr)
    return socket.inet_ntoa(address), port


async def _forward(
    source: asyncio.StreamReader,
    sink: asyncio.StreamWriter,
    delay: float,
    jitter: float,
    rng: random.Random,
) -> None:
    """Copy ``source`` to ``sink``, each chunk ``delay ± jitter`` seconds after it came and
    never before the chunk ahead of it (chunks in flight meanwhile, up to
    :data:`_IN_FLIGHT`); then end ``sink``'s side."""
    held: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(_IN_FLIGHT)

    async def read() -> None:
        due = 0.0
        try:
            while chunk := await source.read(_CHUNK):
                due = max(due, time.monotonic() + rng.uniform(delay - jitter, delay + jitter))
                await held.put((due, chunk))
        except (ConnectionError, OSError):
            pass
        await held.put((due, b""))  # the end

    reading = asyncio.create_task(read())
    try:
        while True:
            due, chunk = await held.get()
            await asyncio.sleep(max(0.0, due - time.monotonic()))  # (the emulated link)
            if not chunk:
                break
            sink.write(chunk)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()
    except (ConnectionError, OSError):
        sink.close()
    finally:
        reading.cancel()


async def relay(
    client: asyncio.StreamReader,
    to_client: asyncio.StreamWriter,
    delay: float,
    jitter: float,
    rng: random.Random,
) -> None:
    """Forward one redirected connection to where it was going, delaying both directions."""
    accepted = to_client.get_extra_info("socket")
    target = original_destination(accepted.getsockopt(socket.SOL_IP, _SO_ORIGINAL_DST, 16))
    upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    upstream.setsockopt(socket.SOL_SOCKET, _SO_MARK, MARK)
    upstream.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(upstream, target)
    except OSError:
        upstream.close()
        to_client.close()
        return
    server, to_server = await asyncio.open_connection(sock=upstream)
    source = to_client.get_extra_info("peername")
    print(f"relayed {source[0]}:{source[1]} -> {target[0]}:{target[1]}", flush=True)
    await asyncio.gather(
        _forward(client, to_server, delay, jitter, rng),
        _forward(server, to_client, delay, jitter, rng),
    )
    for writer in (to_server, to_client):
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


async def serve(port: int, delay: float, jitter: float, seed: int | None = None) -> None:
    """Relay the connections redirected to ``port`` until cancelled."""
    rng = random.Random(seed)

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await relay(reader, writer, delay, jitter, rng)

    server = await asyncio.start_server(accepted, "0.0.0.0", port, reuse_address=True)
    print(f"delay relay ready {port}", flush=True)
    async with server:
        await server.serve_forever()


def parser() -> argparse.ArgumentParser:
    """The command line's arguments.

    >>> parser().parse_args(["--port", "9000", "--delay", "0.1"]).jitter
    0.0
    """
    arguments = argparse.ArgumentParser(prog="delay_relay", description=__doc__.split("\n")[0])
    arguments.add_argument("--port", type=int, required=True, help="port to listen on")
    arguments.add_argument("--delay", type=float, required=True, help="seconds per direction")
    arguments.add_argument("--jitter", type=float, default=0.0, help="± seconds, uniform")
    arguments.add_argument("--seed", type=int, default=None, help="of the jitter's draws")
    return arguments


def main(argv: Sequence[str] | None = None) -> None:
    """Run the relay (see the module's text)."""
    args = parser().parse_args(argv)
    if not 0 <= args.jitter <= args.delay:
        raise SystemExit(f"--jitter {args.jitter:g} must lie between 0 and --delay {args.delay:g}")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.delay, args.jitter, args.seed))


if __name__ == "__main__":
    main(sys.argv[1:])
