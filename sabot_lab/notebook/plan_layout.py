"""A layered (Sugiyama-style) layout of a DAG of boxes, with nested groups, computed in Python.

Operators flow top to bottom: each box gets a layer (longest path from the inputs, inputs then
pulled down next to their first consumer), boxes in a layer are ordered by repeated barycenter
sweeps keeping the order with the fewest edge crossings, and x coordinates are balanced between
the boxes' neighbours without overlaps. A group (a fused pipeline, a stage) is laid out on its
own and then placed as one box, so its rectangle holds exactly its members. Edges spanning
several layers pass through reserved slots, so they never cut through a box.

>>> layout = layered_layout(
...     {"scan": (80, 30), "filter": (80, 30), "dim": (80, 30), "join": (80, 30)},
...     [("scan", "filter"), ("filter", "join"), ("dim", "join")],
... )
>>> [layout.layers[n] for n in ("scan", "filter", "dim", "join")]
[0, 1, 1, 2]
>>> layout.nodes["scan"].bottom < layout.nodes["filter"].y < layout.nodes["join"].y
True
>>> len(layout.edges), layout.edges[0].points[0] == layout.nodes["scan"].bottom_center
(3, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations, pairwise

from sabot_lab.errors import PlanError

__all__ = ["GROUP_HEADER", "Box", "Layout", "Route", "edge_path", "layered_layout"]

H_GAP = 28.0
"""Horizontal space between neighbouring boxes of a layer."""
V_GAP = 34.0
"""Vertical space between layers (where edges and their row labels go)."""
GROUP_PAD = 10.0
"""Space between a group's rectangle and its members."""
GROUP_HEADER = 16.0
"""Height of a group's title line, above its members."""
SLOT_WIDTH = 10.0
"""Width reserved in a layer for an edge passing through it."""
SWEEPS = 12
"""Barycenter sweeps (down then up) tried when ordering the boxes of each layer."""
BALANCE_ROUNDS = 4
"""Rounds of x coordinate balancing."""


@dataclass(frozen=True)
class Box:
    """A rectangle: top-left corner ``x``, ``y``, width ``w``, height ``h``.

    >>> b = Box(10, 20, 30, 40)
    >>> b.bottom_center, b.overlaps(Box(39, 59, 5, 5)), b.overlaps(Box(40, 20, 5, 5))
    ((25.0, 60), True, False)
    """

    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        """Right edge."""
        return self.x + self.w

    @property
    def bottom(self) -> float:
        """Bottom edge."""
        return self.y + self.h

    @property
    def top_center(self) -> tuple[float, float]:
        """Where edges enter the box."""
        return (self.x + self.w / 2, self.y)

    @property
    def bottom_center(self) -> tuple[float, float]:
        """Where edges leave the box."""
        return (self.x + self.w / 2, self.bottom)

    def contains(self, other: Box) -> bool:
        """Whether ``other`` lies inside this box (edges included).

        >>> Box(0, 0, 10, 10).contains(Box(2, 2, 8, 8)), Box(0, 0, 10, 10).contains(Box(2, 2, 9, 8))
        (True, False)
        """
        return (
            self.x <= other.x
            and self.y <= other.y
            and other.right <= self.right
            and other.bottom <= self.bottom
        )

    def overlaps(self, other: Box) -> bool:
        """Whether the two boxes share interior area (touching edges do not count)."""
        return (
            self.x < other.right
            and other.x < self.right
            and self.y < other.bottom
            and other.y < self.bottom
        )

    def shifted(self, dx: float, dy: float) -> Box:
        """The same box moved by ``dx``, ``dy``."""
        return Box(self.x + dx, self.y + dy, self.w, self.h)


@dataclass(frozen=True)
class Route:
    """The polyline an edge is drawn along, from the bottom of ``source`` to the top of
    ``target``."""

    source: str
    target: str
    points: tuple[tuple[float, float], ...]

    def shifted(self, dx: float, dy: float) -> Route:
        """The same route moved by ``dx``, ``dy``."""
        return Route(self.source, self.target, tuple((x + dx, y + dy) for x, y in self.points))

    @property
    def label_point(self) -> tuple[float, float]:
        """Where a label of the edge goes: the middle of its middle segment.

        >>> Route("a", "b", ((0, 0), (10, 20))).label_point
        (5.0, 10.0)
        """
        i = (len(self.points) - 1) // 2
        (x0, y0), (x1, y1) = self.points[i], self.points[i + 1]
        return ((x0 + x1) / 2, (y0 + y1) / 2)


@dataclass(frozen=True)
class Layout:
    """Boxes of the nodes and groups, edge routes (one per input edge, in input order), the
    top-level layer of every node, and the size of the whole drawing."""

    nodes: Mapping[str, Box]
    groups: Mapping[str, Box]
    edges: tuple[Route, ...]
    layers: Mapping[str, int]
    width: float
    height: float


def layered_layout(
    sizes: Mapping[str, tuple[float, float]],
    edges: Sequence[tuple[str, str]],
    groups: Mapping[str, Sequence[str]] | None = None,
    headers: Mapping[str, float] | None = None,
) -> Layout:
    """Lay out the DAG of boxes ``sizes`` (id → width, height) with ``edges`` (source,
    target); ``groups`` maps a group id to its members (node ids, or ids of groups nested in
    it); ``headers``: the height of a group's title area, where it is not
    :data:`GROUP_HEADER`. Raises :class:`~sabot_lab.errors.PlanError` for a cycle or an
    unknown id.

    >>> layout = layered_layout(
    ...     {"a": (50, 20), "b": (50, 20), "c": (50, 20)}, [("a", "b"), ("b", "c")], {"g": ["a", "b"]}
    ... )
    >>> g = layout.groups["g"]
    >>> g.contains(layout.nodes["a"]) and g.contains(layout.nodes["b"]), g.overlaps(layout.nodes["c"])
    (True, False)
    """
    members_of = {g: list(members) for g, members in (groups or {}).items()}
    parent: dict[str, str] = {}
    for group, members in members_of.items():
        for member in members:
            if member not in sizes and member not in members_of:
                raise PlanError(f"plan layout: group {group!r} lists unknown member {member!r}")
            if member in parent:
                raise PlanError(
                    f"plan layout: {member!r} is in groups {parent[member]!r} and {group!r}; "
                    "a box belongs to one group at most"
                )
            parent[member] = group
    for u, v in edges:
        for end in (u, v):
            if end not in sizes:
                raise PlanError(f"plan layout: edge {u!r} -> {v!r} names unknown node {end!r}")
    block = _Nesting(sizes, members_of, parent, edges, headers or {}).place(None)
    return Layout(
        block.nodes,
        block.groups,
        tuple(block.routes[i] for i in range(len(edges))),
        block.layers,
        block.width,
        block.height,
    )


def edge_path(points: Sequence[tuple[float, float]]) -> str:
    """An SVG path ``d`` through ``points``: a smooth curve leaving and entering vertically.

    >>> edge_path([(0, 0), (10, 20)])
    'M0,0 C0,10 10,10 10,20'
    """
    (x, y), *rest = points
    d = [f"M{_n(x)},{_n(y)}"]
    for nx, ny in rest:
        mid = (y + ny) / 2
        d.append(f"C{_n(x)},{_n(mid)} {_n(nx)},{_n(mid)} {_n(nx)},{_n(ny)}")
        x, y = nx, ny
    return " ".join(d)


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


@dataclass
class _Block:
    """A laid-out group (or the whole drawing), coordinates relative to its top-left."""

    nodes: dict[str, Box]
    groups: dict[str, Box]
    routes: dict[int, Route]
    layers: dict[str, int]
    width: float
    height: float


class _Nesting:
    """Lays out each group on its own, then its parent with the group as one box."""

    def __init__(
        self,
        sizes: Mapping[str, tuple[float, float]],
        groups: Mapping[str, list[str]],
        parent: Mapping[str, str],
        edges: Sequence[tuple[str, str]],
        headers: Mapping[str, float],
    ) -> None:
        self.sizes, self.groups, self.parent, self.edges = sizes, groups, parent, edges
        self.headers = headers

    def _top(self, item: str, container: str | None) -> str | None:
        """The member of ``container`` holding ``item`` (None if ``item`` is outside it)."""
        while self.parent.get(item) != container:
            if item not in self.parent:
                return None
            item = self.parent[item]
        return item

    def place(self, container: str | None) -> _Block:
        if container is None:
            members = [i for i in (*self.sizes, *self.groups) if i not in self.parent]
        else:
            members = self.groups[container]
        blocks = {m: self.place(m) for m in members if m in self.groups}
        header = {m: self.headers.get(m, GROUP_HEADER) for m in blocks}
        sizes = {
            m: (
                (blocks[m].width + 2 * GROUP_PAD, blocks[m].height + 2 * GROUP_PAD + header[m])
                if m in blocks
                else self.sizes[m]
            )
            for m in members
        }
        level: dict[int, tuple[str, str]] = {}  # edge index -> the members it joins
        for i, (u, v) in enumerate(self.edges):
            tu, tv = self._top(u, container), self._top(v, container)
            if tu is not None and tv is not None and tu != tv:
                level[i] = (tu, tv)
        flat = _layered(members, sizes, list(dict.fromkeys(level.values())))
        out = _Block({}, {}, {}, {}, flat.width, flat.height)
        for m in members:
            x, y = flat.positions[m]
            if m in blocks:
                inner = blocks[m]
                dx, dy = x + GROUP_PAD, y + GROUP_PAD + header[m]
                out.groups[m] = Box(x, y, *sizes[m])
                out.nodes.update({k: b.shifted(dx, dy) for k, b in inner.nodes.items()})
                out.groups.update({k: b.shifted(dx, dy) for k, b in inner.groups.items()})
                out.routes.update({k: r.shifted(dx, dy) for k, r in inner.routes.items()})
                out.layers.update(dict.fromkeys(inner.nodes, flat.layers[m]))
            else:
                out.nodes[m] = Box(x, y, *sizes[m])
                out.layers[m] = flat.layers[m]
        for i, (tu, tv) in level.items():
            u, v = self.edges[i]
            start, end = out.nodes[u].bottom_center, out.nodes[v].top_center
            out.routes[i] = Route(u, v, (start, *flat.slots[tu, tv], end))
        return out


@dataclass
class _Flat:
    positions: dict[str, tuple[float, float]]
    layers: dict[str, int]
    slots: dict[tuple[str, str], list[tuple[float, float]]]
    width: float
    height: float


def _layered(
    ids: list[str], sizes: Mapping[str, tuple[float, float]], edges: list[tuple[str, str]]
) -> _Flat:
    """The Sugiyama steps on one level: layers, dummy slots, ordering, coordinates."""
    layer = _assign_layers(ids, edges)
    width = {i: sizes[i][0] for i in ids}
    height = {i: sizes[i][1] for i in ids}
    succ: dict[str, list[str]] = {i: [] for i in ids}
    pred: dict[str, list[str]] = {i: [] for i in ids}
    chains: dict[tuple[str, str], list[str]] = {}
    for u, v in edges:
        chain = [u]
        for k in range(layer[u] + 1, layer[v]):
            slot = f"\0{u}\0{v}\0{k}"
            layer[slot], width[slot], height[slot] = k, SLOT_WIDTH, 0.0
            succ[slot], pred[slot] = [], []
            chain.append(slot)
        chain.append(v)
        for a, b in pairwise(chain):
            succ[a].append(b)
            pred[b].append(a)
        chains[u, v] = chain[1:-1]
    order = _order(ids, layer, succ, pred)
    x = _x_coordinates(order, width, succ, pred)
    tops, y = [], 0.0
    for row in order:
        tops.append(y)
        y += max((height[i] for i in row), default=0.0) + V_GAP
    total_height = max(0.0, y - V_GAP)
    positions, slots = {}, {}
    for li, row in enumerate(order):
        row_height = max((height[i] for i in row), default=0.0)
        for i in row:
            if i in sizes:
                positions[i] = (x[i] - width[i] / 2, tops[li] + (row_height - height[i]) / 2)
    for key, chain in chains.items():
        slots[key] = [
            p
            for s in chain
            for p in ((x[s], tops[layer[s]]), (x[s], tops[layer[s]] + _h(order, height, layer[s])))
        ]
    total_width = max((x[i] + width[i] / 2 for row in order for i in row), default=0.0)
    return _Flat(positions, {i: layer[i] for i in ids}, slots, total_width, total_height)


def _h(order: list[list[str]], height: Mapping[str, float], li: int) -> float:
    return max((height[i] for i in order[li]), default=0.0)


def _assign_layers(ids: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Longest path from the inputs, then each input pulled down to just above its nearest
    consumer (shorter edges, e.g. a join's small side next to the join)."""
    succ: dict[str, list[str]] = {i: [] for i in ids}
    indegree = dict.fromkeys(ids, 0)
    for u, v in edges:
        succ[u].append(v)
        indegree[v] += 1
    ready = [i for i in ids if indegree[i] == 0]
    layer = dict.fromkeys(ids, 0)
    topo: list[str] = []
    while ready:
        current = ready.pop(0)
        topo.append(current)
        for child in succ[current]:
            layer[child] = max(layer[child], layer[current] + 1)
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    if len(topo) != len(ids):
        stuck = ", ".join(sorted(i for i, d in indegree.items() if d > 0))
        raise PlanError(f"plan layout: the edges form a cycle through {stuck}")
    has_input = {v for _, v in edges}
    for i in ids:
        if i not in has_input and succ[i]:
            layer[i] = min(layer[c] for c in succ[i]) - 1
    return layer


def _order(
    ids: list[str],
    layer: Mapping[str, int],
    succ: Mapping[str, list[str]],
    pred: Mapping[str, list[str]],
) -> list[list[str]]:
    """Boxes of each layer, left to right: depth-first first, then barycenter sweeps; the
    order with the fewest crossings wins."""
    rows: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    seen: set[str] = set()

    def visit(i: str) -> None:
        if i not in seen:
            seen.add(i)
            rows[layer[i]].append(i)
            for child in succ[i]:
                visit(child)

    for i in ids:
        if not pred[i]:
            visit(i)
    best, fewest = [list(r) for r in rows], _crossings(rows, succ)
    for sweep in range(SWEEPS):
        down = sweep % 2 == 0
        indices = range(1, len(rows)) if down else range(len(rows) - 2, -1, -1)
        for li in indices:
            above = rows[li - 1] if down else rows[li + 1]
            rows[li] = _by_barycenter(rows[li], above, pred if down else succ)
        count = _crossings(rows, succ)
        if count < fewest:
            best, fewest = [list(r) for r in rows], count
    return best


def _by_barycenter(
    row: list[str], other: list[str], neighbours: Mapping[str, list[str]]
) -> list[str]:
    """``row`` sorted by the mean position of each box's neighbours in the ``other`` layer
    (a box without any keeps its place)."""
    position = {i: p for p, i in enumerate(other)}

    def barycenter(k: int) -> float:
        near = [position[n] for n in neighbours[row[k]] if n in position]
        return sum(near) / len(near) if near else float(k)

    return [row[k] for k in sorted(range(len(row)), key=barycenter)]


def _crossings(rows: list[list[str]], succ: Mapping[str, list[str]]) -> int:
    """Edge crossings between neighbouring layers."""
    total = 0
    for upper, lower in pairwise(rows):
        below = {i: p for p, i in enumerate(lower)}
        ends = [(p, below[c]) for p, i in enumerate(upper) for c in succ[i] if c in below]
        total += sum((a0 - b0) * (a1 - b1) < 0 for (a0, a1), (b0, b1) in combinations(ends, 2))
    return total


def _x_coordinates(
    rows: list[list[str]],
    width: Mapping[str, float],
    succ: Mapping[str, list[str]],
    pred: Mapping[str, list[str]],
) -> dict[str, float]:
    """Box centres: packed left to right, then moved towards the mean of their neighbours
    above (down sweeps) and below (up sweeps), keeping the order and the gaps."""
    x: dict[str, float] = {}
    for row in rows:
        left = 0.0
        for i in row:
            x[i] = left + width[i] / 2
            left += width[i] + H_GAP
    for _ in range(BALANCE_ROUNDS):
        for down in (True, False):
            indices = range(1, len(rows)) if down else range(len(rows) - 2, -1, -1)
            for li in indices:
                row = rows[li]
                wanted = []
                for i in row:
                    near = [x[n] for n in (pred[i] if down else succ[i])]
                    wanted.append(sum(near) / len(near) if near else x[i])
                for i, value in zip(row, _spread(row, wanted, width), strict=True):
                    x[i] = value
    shift = min((x[i] - width[i] / 2 for row in rows for i in row), default=0.0)
    return {i: value - shift for i, value in x.items()}


def _spread(row: list[str], wanted: list[float], width: Mapping[str, float]) -> list[float]:
    """Centres as close to ``wanted`` as the order and gaps allow: the mean of a left-to-right
    and a right-to-left pass (both keep every gap, so their mean does too)."""
    gap = [width[a] / 2 + width[b] / 2 + H_GAP for a, b in pairwise(row)]
    forward = list(wanted)
    for k in range(1, len(row)):
        forward[k] = max(wanted[k], forward[k - 1] + gap[k - 1])
    backward = list(wanted)
    for k in range(len(row) - 2, -1, -1):
        backward[k] = min(wanted[k], backward[k + 1] - gap[k])
    return [(a + b) / 2 for a, b in zip(forward, backward, strict=True)]
