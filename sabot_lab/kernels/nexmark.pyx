# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Nexmark's random draws and prices, and bids in one pass: ids, price, channel strings and
event time for a range of events.

Bids are 46 of every 50 Nexmark events, so they decide the generator's speed; their loop makes
every column of a bid at once (see :mod:`sabot_lab.connectors.nexmark` for the rules). Persons
and auctions are made with numpy from :func:`draws` and :func:`prices`, the same draws and
price rule the bid loop uses.
"""

from libc.math cimport exp, log, rint
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.string cimport memcpy

from sabot_lab.kernels._mix cimport mix64

import numpy as np

cdef uint64_t GOLDEN = 0x9E3779B97F4A7C15ULL
cdef uint64_t SALT = 0xD1B54A32D192ED03ULL
cdef double SCALE = 6.0 * log(10.0)


cdef inline uint64_t draw(int64_t n, uint64_t seed, uint64_t salt) noexcept nogil:
    # draw ``salt`` of event ``n``: splitmix64 of the seed and the event number
    return mix64(<uint64_t>n * GOLDEN + seed + salt * SALT)


cdef inline int64_t price_of(uint64_t bits) noexcept nogil:
    # round(10 ** (6 U) * 100) cents, U uniform in [0, 1) from the top 53 bits
    return <int64_t>rint(exp(<double>(bits >> 11) * (1.0 / 9007199254740992.0) * SCALE) * 100.0)


def draws(const int64_t[::1] n, uint64_t seed, uint64_t salt):
    """Draw ``salt`` (64 random bits) of each of events ``n``."""
    out_np = np.empty(n.shape[0], dtype=np.uint64)
    cdef uint64_t[::1] out = out_np
    cdef Py_ssize_t i
    with nogil:
        for i in range(n.shape[0]):
            out[i] = draw(n[i], seed, salt)
    return out_np


def prices(const uint64_t[::1] bits):
    """Nexmark prices in cents from draws."""
    out_np = np.empty(bits.shape[0], dtype=np.int64)
    cdef int64_t[::1] out = out_np
    cdef Py_ssize_t i
    with nogil:
        for i in range(bits.shape[0]):
            out[i] = price_of(bits[i])
    return out_np


cdef inline int64_t below(uint64_t half, int64_t bound) noexcept nogil:
    # an integer in [0, bound) from 32 random bits
    return <int64_t>((half * <uint64_t>bound) >> 32)


def bid_columns(int64_t start, int64_t stop, uint64_t seed, double step_us, int64_t base_us,
                list channels, list urls):
    """The bids among events ``start`` to ``stop - 1``: ``(auction, bidder, price, channel
    offsets, channel bytes, url offsets, url bytes, time in ms)``, ids base 0."""
    cdef Py_ssize_t count = 0
    cdef int64_t n
    for n in range(start, stop):
        if n % 50 >= 4:
            count += 1
    auction_np = np.empty(count, dtype=np.int64)
    bidder_np = np.empty(count, dtype=np.int64)
    price_np = np.empty(count, dtype=np.int64)
    time_np = np.empty(count, dtype=np.int64)
    cdef int64_t[::1] auction = auction_np, bidder = bidder_np
    cdef int64_t[::1] price = price_np, times = time_np
    cdef bytes names = b"".join(channels), links = b"".join(urls)
    cdef int32_t name_at[5]
    cdef int32_t link_at[5]
    cdef Py_ssize_t k
    name_at[0] = link_at[0] = 0
    for k in range(4):
        name_at[k + 1] = name_at[k] + len(channels[k])
        link_at[k + 1] = link_at[k] + len(urls[k])
    name_off_np = np.empty(count + 1, dtype=np.int32)
    link_off_np = np.empty(count + 1, dtype=np.int32)
    name_np = np.empty(count * max(len(c) for c in channels), dtype=np.uint8)
    link_np = np.empty(count * max(len(u) for u in urls), dtype=np.uint8)
    cdef int32_t[::1] name_off = name_off_np, link_off = link_off_np
    cdef uint8_t[::1] name_data = name_np, link_data = link_np
    cdef const char* name_src = names
    cdef const char* link_src = links
    cdef uint64_t choice, recent
    cdef int64_t auctions, people, active, hot, c, row = 0, name_pos = 0, link_pos = 0
    with nogil:
        for n in range(start, stop):
            if n % 50 < 4:
                continue
            choice = draw(n, seed, 1)  # bit 0: hot auction; bits 1-2: hot bidder; 3-4: channel
            recent = draw(n, seed, 2)  # low half: recent auction; high half: recent bidder
            auctions = (n // 50) * 3 + 3
            people = (n + 49) // 50
            if choice & 1:
                auction[row] = ((auctions - 1) // 2) * 2
            else:
                active = auctions if auctions < 100 else 100
                auction[row] = auctions - active + below(recent & 0xFFFFFFFFULL, active)
            if (choice >> 1) & 3:
                hot = ((people - 1) // 4) * 4 + 1
                bidder[row] = hot if hot < people else people - 1
            else:
                active = people if people < 1000 else 1000
                bidder[row] = people - active + below(recent >> 32, active)
            price[row] = price_of(draw(n, seed, 3))
            c = (choice >> 3) & 3
            name_off[row] = name_pos
            memcpy(&name_data[0] + name_pos, name_src + name_at[c], name_at[c + 1] - name_at[c])
            name_pos += name_at[c + 1] - name_at[c]
            link_off[row] = link_pos
            memcpy(&link_data[0] + link_pos, link_src + link_at[c], link_at[c + 1] - link_at[c])
            link_pos += link_at[c + 1] - link_at[c]
            times[row] = (base_us + <int64_t>(n * step_us)) // 1000
            row += 1
        name_off[count] = name_pos
        link_off[count] = link_pos
    return (auction_np, bidder_np, price_np, name_off_np, name_np[:name_pos],
            link_off_np, link_np[:link_pos], time_np)
