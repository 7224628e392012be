"""Symmetric hash join of two streams: rows with equal keys, both sides read at once.

Both sides are kept in a state backend and every batch probes the other side's rows as it
arrives (then joins its own side's), so each pair comes out once, as soon as both rows are
there. A side may name an ``until`` column: its rows leave the state once the watermark
passes that column plus a ``slack`` (microseconds), as no row still to come can match them;
rows without that time never match and are not kept. A side without one is kept whole (the
state grows with the stream). The output carries no event time (a row kept long ago may
match now): watermarks stop here, only the end passes, unless both sides name an ``until``
column and the plan asks for it (``passes_watermark``): a pair out then has both columns at
or above the watermark, which passes on lowered by the larger slack. The interval join
(:mod:`sabot_lab.engine.interval_join`) is this join with a time condition.

>>> import pyarrow as pa
>>> from sabot_lab.engine.state import open_state
>>> ts = pa.timestamp("s")
>>> auctions = pa.record_batch({"seller": [1, 2], "expires": pa.array([10, 20], ts)})
>>> people = pa.record_batch({"id": [1, 1], "name": ["ann", "al"]})
>>> join = SymmetricJoin(["seller"], ["id"], ["name"], ["name"], open_state(), until=("expires", None))
>>> join.on_batch(auctions, 0)
[]
>>> sorted(join.on_batch(people, 1)[0].to_pydict()["name"])
['al', 'ann']
>>> join.evict(15_000_000)  # the first auction expired: it meets no later person
>>> join.state_rows
3
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.engine.items import Batch, Watermark
from sabot_lab.engine.state import StateBackend
from sabot_lab.engine.stateful import StatefulOperator
from sabot_lab.window_specs import END_OF_TIME, us_to_unit

__all__ = ["SymmetricJoin"]


class SymmetricJoin(StatefulOperator):
    """The state and matching of a symmetric hash join; ``payload`` the right columns in the
    output, named ``names``; ``until``/``slack`` per side (left, right): the column whose
    value plus ``slack`` microseconds the watermark must pass before a row goes, or None."""

    def __init__(
        self,
        left_on: Sequence[str],
        right_on: Sequence[str],
        payload: Sequence[str],
        names: Sequence[str],
        state: StateBackend,
        until: tuple[str | None, str | None] = (None, None),
        slack: tuple[int, int] = (0, 0),
        passes_watermark: bool = False,
    ) -> None:
        self.left_on, self.right_on = list(left_on), list(right_on)
        self.payload, self.names = list(payload), list(names)
        self.until, self.slack = until, slack
        self.passes_watermark = passes_watermark
        super().__init__(state)

    def _load(self) -> None:
        super()._load()
        self._chunks: tuple[list[tuple[str, int | None]], list[tuple[str, int | None]]] = ([], [])
        self._units: list[str | None] = [None, None]
        for key, table in self.state.items():
            side = int(key[0])
            self._chunks[side].append((key, self._latest(table, side)))

    def _latest(self, table: pa.Table, side: int) -> int | None:
        """The largest ``until`` value of a side's table (None: the side has no ``until``)."""
        column = self.until[side]
        if column is None:
            return None
        self._units[side] = self._units[side] or table.schema.field(column).type.unit
        return int(pc.max(table[column]).value)

    def on_batch(self, batch: Batch, side: int = 0) -> list[pa.Table]:
        """Keep a batch of side ``side`` (0 left, 1 right); its matches with the other side."""
        column = self.until[side]
        if column is not None and batch.column(column).null_count:
            batch = batch.filter(pc.is_valid(batch.column(column)))  # within no bound
        if not batch.num_rows:
            return []
        if side == 1:
            kept = [*self.right_on, *([] if column is None else [column]), *self.payload]
            batch = batch.select(list(dict.fromkeys(kept)))
        table = pa.Table.from_batches([batch])
        others = [self.state.get(key) for key, _ in self._chunks[1 - side]]
        other = [t for t in others if t is not None]
        matches = None
        if other:
            rest = pa.concat_tables(other)
            matches = self._match(table, rest) if side == 0 else self._match(rest, table)
        key = self._put_new(table, f"{side}/")
        self._chunks[side].append((key, self._latest(table, side)))
        return [] if matches is None else [matches]

    def _match(self, left: pa.Table, right: pa.Table) -> pa.Table | None:
        """Rows of ``left`` and ``right`` with equal keys (and what :meth:`_kept` keeps of
        them); the hash table is built on the smaller of the two (a new batch, or the rows
        kept)."""
        ours = [f"__l{i}" for i in range(left.num_columns)]
        theirs = [f"__r{i}" for i in range(right.num_columns)]
        l_name = dict(zip(left.column_names, ours, strict=True))
        r_name = dict(zip(right.column_names, theirs, strict=True))
        sides = _same_key_types(
            (left.rename_columns(ours), [l_name[k] for k in self.left_on]),
            (right.rename_columns(theirs), [r_name[k] for k in self.right_on]),
        )
        (probe, probe_keys), (build, build_keys) = sorted(sides, key=lambda s: -s[0].num_rows)
        joined = probe.join(
            build, keys=probe_keys, right_keys=build_keys, join_type="inner",
            coalesce_keys=False, use_threads=False,
        )  # fmt: skip
        if joined.num_rows:
            joined = self._kept(joined, l_name, r_name, left.schema)
        if not joined.num_rows:
            return None
        columns = [joined[n] for n in ours] + [joined[r_name[p]] for p in self.payload]
        return pa.Table.from_arrays(columns, names=[*left.column_names, *self.names])

    def _kept(
        self, joined: pa.Table, left: dict[str, str], right: dict[str, str], schema: pa.Schema
    ) -> pa.Table:
        """The pairs of equal keys that join (``left``/``right``: the joined table's names of
        each side's columns; ``schema``: the left side's): all of them."""
        return joined

    def on_watermark(self, watermark: Watermark) -> Iterator[Watermark]:
        """Forget the rows no row still to come can match; only the end passes on (with
        ``passes_watermark``, every watermark, lowered by the larger slack: each row kept
        has its ``until`` at or above that)."""
        self.evict(watermark.time)
        if watermark.time == END_OF_TIME:
            yield watermark
        elif self.passes_watermark:
            yield Watermark(watermark.time - max(0, *self.slack))

    def evict(self, watermark: int) -> None:
        """Forget the rows no row still to come can match, given the watermark (microseconds)."""
        if watermark == END_OF_TIME:
            return
        for side in (0, 1):
            column, unit = self.until[side], self._units[side]
            if column is None or unit is None:
                continue
            cutoff = us_to_unit(watermark - self.slack[side], unit)
            kept = []
            for key, latest in self._chunks[side]:
                if latest is not None and latest >= cutoff:
                    table = self.state.get(key)
                    if table is not None and pc.min(table[column]).value < cutoff:
                        stays = table.filter(
                            pc.greater_equal(table[column].cast(pa.int64()), cutoff)
                        )
                        self.state.put(key, stays)
                        self._held(stays.num_rows - table.num_rows)
                    kept.append((key, latest))
                    continue
                table = self.state.pop(key)
                self._held(-(0 if table is None else table.num_rows))
            self._chunks[side][:] = kept


Keyed = tuple[pa.Table, list[str]]


def _same_key_types(left: Keyed, right: Keyed) -> list[Keyed]:
    """Both sides with their keys, a pair of keys of different types (integers of two
    widths, strings and large strings) compared as one type in columns added for it.

    >>> left = pa.table({"k": pa.array([1, 2], pa.int32())})
    >>> (_, lk), (_, rk) = _same_key_types((left, ["k"]), (pa.table({"k": [2]}), ["k"]))
    >>> lk, rk
    (['__lk0'], ['__rk0'])
    """
    (lt, lkeys), (rt, rkeys) = left, right
    lkeys, rkeys = list(lkeys), list(rkeys)
    for i, (lk, rk) in enumerate(zip(lkeys, rkeys, strict=True)):
        types = lt.schema.field(lk).type, rt.schema.field(rk).type
        if types[0] == types[1]:
            continue
        both = pa.large_string()
        if all(pa.types.is_integer(t) for t in types):
            both = pa.int64()
        elif any(pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in types):
            both = pa.large_binary()
        lt = lt.append_column(f"__lk{i}", lt[lk].cast(both))
        rt = rt.append_column(f"__rk{i}", rt[rk].cast(both))
        lkeys[i], rkeys[i] = f"__lk{i}", f"__rk{i}"
    return [(lt, lkeys), (rt, rkeys)]
