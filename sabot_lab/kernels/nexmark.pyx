# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The Nexmark generator's rows: persons, auctions and bids of a range of events in one pass.

Every field of event ``n`` is a function of the seed and ``n`` alone (see
:mod:`sabot_lab.connectors.nexmark` for the rules), so a loop over the events writes every
column of every requested kind at once, with no division, allocation or call per event. The
combined events stream asks for the kinds it reads (all three by default) with a row per
event: each kind's columns hold zero and empty strings where the event is of another kind, and a validity bitmap per kind
marks its rows. A bid's channel and url are one of four pools' values, the same one for both:
the kernel writes that value's number (int32), for a dictionary-encoded column of each pool,
instead of its text. Output buffers come from Arrow's memory pool, which keeps freed memory for the
next batch (fresh pages from the system cost more than making the events).
"""

from libc.math cimport rint
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint64_t
from libc.string cimport memcpy

from sabot_lab.kernels._mix cimport mix64

import numpy as np
import pyarrow as pa

cdef uint64_t GOLDEN = 0x9E3779B97F4A7C15ULL
cdef uint64_t SALT = 0xD1B54A32D192ED03ULL
cdef enum:
    PERIOD = 50  # one person, three auctions and 46 bids in every 50 events
    PAD = 32  # strings are copied 32 bytes at a time; every text buffer has this much slack

# 100 * 10 ** (6 U) for U in [0, 1) of 30 bits, as the product of three tables of 10 bits each
cdef double POW_HIGH[1024]
cdef double POW_MID[1024]
cdef double POW_LOW[1024]
cdef int _i
for _i in range(1024):
    POW_HIGH[_i] = 100.0 * 10.0 ** (6.0 * _i / 1024.0)
    POW_MID[_i] = 10.0 ** (6.0 * _i / 1024.0 ** 2)
    POW_LOW[_i] = 10.0 ** (6.0 * _i / 1024.0 ** 3)


cdef inline uint64_t draw(int64_t n, uint64_t seed, uint64_t salt) noexcept nogil:
    # draw ``salt`` of event ``n``: splitmix64 of the seed and the event number
    return mix64(<uint64_t>n * GOLDEN + seed + salt * SALT)


cdef inline int64_t below(uint64_t bits, int64_t bound) noexcept nogil:
    # an integer in [0, bound) from the low 32 bits of a draw
    return <int64_t>(((bits & 0xFFFFFFFFULL) * <uint64_t>bound) >> 32)


cdef inline int64_t price_of(uint64_t bits) noexcept nogil:
    # round(10 ** (6 U) * 100) cents, U uniform in [0, 1) from the top 30 bits
    return <int64_t>rint(
        POW_HIGH[bits >> 54] * POW_MID[(bits >> 44) & 1023] * POW_LOW[(bits >> 34) & 1023]
    )


cdef inline int64_t recent(uint64_t bits, int64_t count, int64_t window) noexcept nogil:
    # one of the ``window`` newest of ``count`` ids (from 0)
    cdef int64_t active = count if count < window else window
    return count - active + below(bits, active)


cdef struct Choices:
    # up to 16 strings, each padded to PAD bytes
    char padded[16][PAD]
    int32_t length[16]


cdef struct Text:
    # a string column being written: offsets, bytes, bytes used
    int32_t* at
    char* data
    int32_t used


cdef inline void put(Text* t, const char* s, int32_t n) noexcept nogil:
    memcpy(t.data + t.used, s, n)
    t.used += n


cdef inline void put_choice(Text* t, Choices* c, int64_t k) noexcept nogil:
    memcpy(t.data + t.used, c.padded[k], PAD)
    t.used += c.length[k]


cdef inline void put_digits(Text* t, uint64_t v, int width) noexcept nogil:
    # ``v`` in decimal, zero-padded to ``width`` digits
    cdef char digits[24]
    cdef int k = 0
    while v or k < width:
        digits[23 - k] = 48 + v % 10
        v //= 10
        k += 1
    put(t, digits + 24 - k, k)


cdef Choices choices(list strings) except *:
    cdef Choices c
    cdef Py_ssize_t k
    cdef bytes padded
    if len(strings) > 16 or max(len(s) for s in strings) > PAD:
        raise ValueError(f"at most 16 choices of at most {PAD} bytes")
    for k in range(len(strings)):
        padded = strings[k].ljust(PAD, b"\0")
        memcpy(c.padded[k], <const char*>padded, PAD)
        c.length[k] = len(strings[k])
    return c


def empty(Py_ssize_t count, dtype):
    """An uninitialized numpy array of ``count`` ``dtype`` items in Arrow's memory pool.

    >>> empty(3, np.int64).shape
    (3,)
    """
    dtype = np.dtype(dtype)
    return np.frombuffer(pa.allocate_buffer(max(count, 1) * dtype.itemsize), dtype)[:count]


def rows_of(int64_t start, int64_t stop, int64_t lo, int64_t hi):
    """How many of events ``start`` to ``stop - 1`` have ``n % 50`` in ``[lo, hi]``.

    >>> rows_of(0, 100, 4, 49), rows_of(3, 52, 0, 0)
    (92, 1)
    """
    cdef int64_t width = hi - lo + 1
    return ((stop // PERIOD - start // PERIOD) * width
            + min(max(stop % PERIOD - lo, 0), width) - min(max(start % PERIOD - lo, 0), width))


cdef class _Columns:
    """Numpy arrays for ``rows`` rows: int64 columns and string columns (offsets and bytes
    of at most ``width`` per row)."""

    cdef dict arrays
    cdef Py_ssize_t rows

    def __init__(self, Py_ssize_t rows):
        self.arrays, self.rows = {}, rows

    def ints(self, str name):
        self.arrays[name] = empty(self.rows, np.int64)
        return self.arrays[name]

    def codes(self, str name):
        self.arrays[name] = empty(self.rows, np.int32)
        return self.arrays[name]

    cdef Text text(self, str name, Py_ssize_t width) except *:
        at, data = empty(self.rows + 1, np.int32), empty(self.rows * width + PAD, np.uint8)
        self.arrays[name] = (at, data)
        cdef int32_t[::1] at_view = at
        cdef uint8_t[::1] data_view = data
        cdef Text t
        t.at, t.data, t.used = &at_view[0], <char*>&data_view[0], 0
        return t

    def result(self, dict used):
        """The arrays; each string column as ``(offsets, the bytes used)``."""
        for name, size in used.items():
            at, data = self.arrays[name]
            self.arrays[name] = (at, data[:size])
        return self.arrays


def nexmark_rows(int64_t start, int64_t stop, uint64_t seed, double step_us, int64_t base_us,
                 int64_t first_id, tuple tables, str kind,
                 frozenset parts=frozenset({"persons", "auctions", "bids"})):
    """The columns of events ``start`` to ``stop - 1`` of ``kind`` (``persons``, ``auctions``,
    ``bids``, or ``events``: all three with a row per event) as a dict of numpy arrays,
    string columns as ``(offsets, bytes)``. Ids from ``first_id``; times in ms. ``tables``:
    first names, last names, cities, states (lists of bytes). A bid's ``channel`` is the
    number (0 to 3) of its channel and url among four, int32, zero where the event is not a
    bid. ``events`` adds
    ``event_type`` (0 person, 1 auction, 2 bid) and ``valid``, one bitmap row per kind, and
    writes the columns of the kinds in ``parts`` only (a reader of bids alone skips the rest).

    >>> tables = ([b"Ann"], [b"Lee"], [b"Kent"], [b"WA"])
    >>> rows = nexmark_rows(0, 100, 7, 1000.0, 0, 1000, tables, "persons")
    >>> rows["person_id"].tolist(), bytes(rows["name"][1]), rows["dateTime"].tolist()
    ([1000, 1001], b'Ann LeeAnn Lee', [0, 50])
    >>> nexmark_rows(0, 100, 7, 1000.0, 0, 1000, tables, "bids")["channel"][:5].tolist()
    [0, 1, 1, 2, 0]
    >>> sorted(nexmark_rows(0, 100, 7, 1000.0, 0, 1000, tables, "events", frozenset()))
    ['dateTime', 'event_type', 'valid']
    """
    cdef bint every = kind == "events"
    if not every and kind not in ("persons", "auctions", "bids"):
        raise ValueError(f"unknown kind {kind!r}")
    cdef bint persons = (every and "persons" in parts) or kind == "persons"
    cdef bint auctions = (every and "auctions" in parts) or kind == "auctions"
    cdef bint bids = (every and "bids" in parts) or kind == "bids"
    cdef Py_ssize_t count = stop - start
    if not every:
        count = rows_of(start, stop, *{"persons": (0, 0), "auctions": (1, 3)}.get(kind, (4, 49)))
    cdef Choices first = choices(tables[0]), last = choices(tables[1])
    cdef Choices city = choices(tables[2]), state = choices(tables[3])
    out = _Columns(count)
    cdef int64_t[::1] times = out.ints("dateTime")
    cdef int64_t[::1] person_id, auction_id, initial, reserve, expires, seller, category
    cdef int64_t[::1] auction, bidder, price
    cdef int32_t[::1] channel
    cdef Text name, email, card, city_t, state_t, item
    cdef int8_t[::1] event_type
    cdef uint8_t[:, ::1] valid
    cdef int64_t len_first = len(tables[0]), len_last = len(tables[1])
    cdef int64_t len_city = len(tables[2]), len_state = len(tables[3])
    cdef int32_t longest = max(len(s) for s in tables[0])
    if persons:
        person_id = out.ints("person_id")
        name = out.text("name", longest + 1 + max(len(s) for s in tables[1]))
        email = out.text("emailAddress", longest + 20 + 12)
        card = out.text("creditCard", 19)
        city_t = out.text("city", PAD)
        state_t = out.text("state", PAD)
    if auctions:
        auction_id, initial, reserve = out.ints("auction_id"), out.ints("initialBid"), out.ints("reserve")
        expires, seller, category = out.ints("expires"), out.ints("seller"), out.ints("category")
        item = out.text("itemName", 5 + 20)
    if bids:
        auction, bidder, price = out.ints("auction"), out.ints("bidder"), out.ints("price")
        channel = out.codes("channel")
    if every:
        out.arrays["event_type"] = event_type_np = empty(count, np.int8)
        out.arrays["valid"] = valid_np = empty(3 * ((count + 7) // 8), np.uint8).reshape(3, -1)
        valid_np[:] = 0
        event_type, valid = event_type_np, valid_np
    cdef int64_t n, block = start // PERIOD, phase = start % PERIOD, row = 0, people, made
    cdef int64_t ms, hot, code
    cdef uint64_t choice, pick, digits
    with nogil:
        for n in range(start, stop):
            if not (every or (phase == 0 and persons) or (1 <= phase <= 3 and auctions)
                    or (phase >= 4 and bids)):
                phase += 1
                if phase == PERIOD:
                    phase, block = 0, block + 1
                continue
            ms = (base_us + <int64_t>(n * step_us)) // 1000
            times[row] = ms
            people = block + 1  # persons that exist once this block's person is made
            if persons:
                name.at[row], email.at[row], card.at[row] = name.used, email.used, card.used
                city_t.at[row], state_t.at[row] = city_t.used, state_t.used
                if phase == 0:
                    person_id[row] = first_id + block
                    pick = below(draw(n, seed, 1), len_first)
                    put_choice(&name, &first, pick)
                    put(&name, " ", 1)
                    put_choice(&name, &last, below(draw(n, seed, 2), len_last))
                    put_choice(&email, &first, pick)
                    put_digits(&email, first_id + block, 1)
                    put(&email, "@example.com", 12)
                    digits = draw(n, seed, 3) % 10000000000000000ULL
                    put_digits(&card, digits // 1000000000000ULL, 4)
                    put(&card, " ", 1)
                    put_digits(&card, digits // 100000000ULL % 10000, 4)
                    put(&card, " ", 1)
                    put_digits(&card, digits // 10000 % 10000, 4)
                    put(&card, " ", 1)
                    put_digits(&card, digits % 10000, 4)
                    put_choice(&city_t, &city, below(draw(n, seed, 4), len_city))
                    put_choice(&state_t, &state, below(draw(n, seed, 5), len_state))
                else:
                    person_id[row] = 0
            if auctions:
                item.at[row] = item.used
                if 1 <= phase <= 3:
                    auction_id[row] = first_id + block * 3 + phase - 1
                    put(&item, "item-", 5)
                    put_digits(&item, auction_id[row], 1)
                    initial[row] = price_of(draw(n, seed, 3))
                    reserve[row] = initial[row] + price_of(draw(n, seed, 5))
                    expires[row] = ms + 10000 + below(draw(n, seed, 4), 10001)
                    if below(draw(n, seed, 1), 4) > 0:  # a hot seller: the newest id 0 mod 4
                        seller[row] = first_id + ((people - 1) & ~3)
                    else:
                        seller[row] = first_id + recent(draw(n, seed, 2), people, 1000)
                    category[row] = 10 + below(draw(n, seed, 6), 5)
                else:
                    auction_id[row] = initial[row] = reserve[row] = 0
                    expires[row] = seller[row] = category[row] = 0
            if bids:
                if phase >= 4:
                    choice = draw(n, seed, 1)  # bit 0: hot auction; 1-2: hot bidder; 3-4: channel
                    pick = draw(n, seed, 2)  # low half: recent auction; high half: recent bidder
                    made = block * 3 + 3  # auctions made so far
                    if choice & 1:  # the hot auction: the newest even one
                        auction[row] = first_id + ((made - 1) & ~1)
                    else:
                        auction[row] = first_id + recent(pick, made, 100)
                    if (choice >> 1) & 3:  # the hot bidder: the newest id 1 mod 4
                        hot = ((people - 1) & ~3) + 1
                        bidder[row] = first_id + (hot if hot < people else people - 1)
                    else:
                        bidder[row] = first_id + recent(pick >> 32, people, 1000)
                    price[row] = price_of(draw(n, seed, 3))
                    channel[row] = (choice >> 3) & 3
                else:
                    auction[row] = bidder[row] = price[row] = 0
                    channel[row] = 0
            if every:
                code = 0 if phase == 0 else (1 if phase <= 3 else 2)
                event_type[row] = code
                valid[code, row >> 3] |= <uint8_t>(1 << (row & 7))
            row += 1
            phase += 1
            if phase == PERIOD:
                phase, block = 0, block + 1
        if persons:
            name.at[row], email.at[row], card.at[row] = name.used, email.used, card.used
            city_t.at[row], state_t.at[row] = city_t.used, state_t.used
        if auctions:
            item.at[row] = item.used
    used = {}
    if persons:
        used |= {"name": name.used, "emailAddress": email.used, "creditCard": card.used,
                 "city": city_t.used, "state": state_t.used}
    if auctions:
        used["itemName"] = item.used
    return out.result(used)
