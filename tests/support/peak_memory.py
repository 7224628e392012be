"""The peak resident memory of this process, for tests that bound it in a fresh process."""

from __future__ import annotations


def peak_rss() -> int:
    """This process's peak resident set size in bytes (``VmHWM``): its own, unlike
    ``ru_maxrss``, which a process started by another starts from that one's peak.

    >>> peak_rss() > 0
    True
    """
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
