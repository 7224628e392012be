"""What impairs the links between some hosts of a virtual cluster (see
:meth:`cluster.netns.virtual_hosts.VirtualCluster.impair`): the nftables scripts that drop a
share of their frames at the switch (:func:`loss_rules`) and send their TCP connections
through a delaying relay (:func:`redirect_rules`, :mod:`cluster.netns.delay_relay`), and
reading how many frames were dropped (:func:`dropped_frames`).

Loss is real: frames vanish on the bridge between the hosts' ports (``numgen random``), so
TCP retransmits as it would on a lossy link. Delay and jitter are emulated in userspace, per
TCP connection (not per packet, as ``tc netem`` would, which not every kernel has): both
directions of each connection between the hosts are held back ``delay ± jitter`` seconds.

May import the standard library only.

>>> print(loss_rules("t", ["p-a", "p-b"], 0.01))
table bridge t {
  chain forward {
    type filter hook forward priority 0; policy accept;
    iifname { "p-a", "p-b" } oifname { "p-a", "p-b" } counter numgen random mod 10000 < 100 counter drop
  }
}
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = [
    "IMPAIR_TABLE",
    "MARK",
    "RELAY_PORT",
    "dropped_frames",
    "loss_rules",
    "redirect_rules",
]

IMPAIR_TABLE = "sabot_impair"
"""The nftables table of the impairments (in the switch, and in each impaired host)."""
RELAY_PORT = 15001
"""The port the delaying relay listens on in each impaired host."""
MARK = 0x5AB0
"""The socket mark of the relay's own connections: the redirect rule lets them through."""
_COUNTER = re.compile(r"counter packets (\d+) bytes \d+")


def loss_rules(table: str, ports: Sequence[str], loss: float) -> str:
    """The nftables script of bridge table ``table`` that drops the share ``loss`` (0 to 1,
    to 0.0001) of the frames between the bridge ports ``ports``, counting the frames seen
    and those dropped (:func:`dropped_frames`)."""
    if not 0 <= loss <= 1:
        raise ValueError(f"loss must lie between 0 and 1, got {loss!r}")
    names = ", ".join(f'"{port}"' for port in ports)
    return "\n".join(
        [
            f"table bridge {table} {{",
            "  chain forward {",
            "    type filter hook forward priority 0; policy accept;",
            f"    iifname {{ {names} }} oifname {{ {names} }} counter "
            f"numgen random mod 10000 < {round(loss * 10_000)} counter drop",
            "  }",
            "}",
        ]
    )


def dropped_frames(listed: str) -> tuple[int, int]:
    """The frames between the impaired hosts seen and dropped, from ``nft list table`` of
    the table :func:`loss_rules` made.

    >>> dropped_frames('iifname { "p-a" } counter packets 900 bytes 1 numgen random mod '
    ...                '10000 < 100 counter packets 9 bytes 1 drop')
    (900, 9)
    """
    seen, dropped = (int(n) for n in _COUNTER.findall(listed))
    return seen, dropped


def redirect_rules(table: str, peers: Sequence[str], port: int, mark: int = MARK) -> str:
    """The nftables script of table ``table`` that sends a host's new TCP connections to the
    addresses ``peers`` to the relay on ``port``, except the relay's own (``mark``).

    >>> print(redirect_rules("t", ["10.0.0.2", "10.0.0.3"], 9000, 1))
    table ip t {
      chain output {
        type nat hook output priority -100; policy accept;
        meta mark != 0x1 ip daddr { 10.0.0.2, 10.0.0.3 } meta l4proto tcp redirect to :9000
      }
    }
    """
    return "\n".join(
        [
            f"table ip {table} {{",
            "  chain output {",
            "    type nat hook output priority -100; policy accept;",
            f"    meta mark != {mark:#x} ip daddr {{ {', '.join(peers)} }} meta l4proto tcp "
            f"redirect to :{port}",
            "  }",
            "}",
        ]
    )
