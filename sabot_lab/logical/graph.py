"""The logical plan: a DAG of :class:`StreamOperatorNode` in a :class:`JobGraph`.

A node places one typed operator (:mod:`sabot_lab.logical.operators`) in the graph: its id,
edges, output schema and parallelism. Nodes are immutable; a :class:`JobGraph` is a small
builder (``add_operator``, ``connect``) that the ``Stream`` API copies before every
extension, so a stream's plan never changes under it. ``to_dict``/``from_dict`` round-trip
everything as JSON-safe data (an operator as its kind and the fields not at their default).

>>> from sabot_lab.expr import col
>>> from sabot_lab.logical import Filter, JobGraph, Limit, StreamOperatorNode
>>> g = JobGraph("demo")
>>> a = g.add_operator(StreamOperatorNode("src", op=Limit(n=9), name="first"))
>>> b = g.add_operator(StreamOperatorNode("keep", op=Filter(predicate=col("x") > 1), name="filter"))
>>> g.connect(a, b)
>>> [n.operator_id for n in g.topological_sort()]
['src', 'keep']
>>> g.node("src").downstream
('keep',)
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa

from sabot_lab.errors import PlanError, SchemaError
from sabot_lab.logical.codec import decode, encode, schema_from_b64, schema_to_b64
from sabot_lab.logical.operators import (
    Fused,
    Operator,
    OperatorType,
    Project,
    Source,
    SymmetricJoin,
    Watermark,
    operator_class,
)
from sabot_lab.logical.parameters import MissingParameters, operator_from_parameters

__all__ = [
    "JobGraph",
    "StreamOperatorNode",
    "derived_operator_id",
    "fused_members",
    "new_operator_id",
]


_ids = itertools.count(1)


def new_operator_id(kind: OperatorType) -> str:
    """A process-unique operator id such as ``filter_7``.

    >>> new_operator_id(OperatorType.SORT).startswith("sort_")
    True
    """
    return f"{kind.value}_{next(_ids)}"


def derived_operator_id(kind: type[Operator], *anchors: str) -> str:
    """The id of an operator of class ``kind`` an optimizer rule makes from or next to the
    operators ``anchors``: the same however often the plan is optimized, so a plan optimized
    in a notebook and again by the JobManager names its operators alike (live plan numbers
    are matched by id).

    >>> from sabot_lab.logical.operators import Filter
    >>> derived_operator_id(Filter, "source_1", "join_3")
    'filter_source_1_join_3'
    """
    return "_".join((kind.kind.value, *anchors))


_NODE_FIELDS = (
    "operator_id",
    "op",
    "name",
    "upstream",
    "downstream",
    "schema",
    "parallelism",
    "declared",
)
_FIELD_SET = frozenset(_NODE_FIELDS)


class StreamOperatorNode:
    """One operator of a plan: a typed :class:`~sabot_lab.logical.operators.Operator` with its
    place in the graph.

    Attributes:
        operator_id: unique id within the graph (generated from the type when not given,
            e.g. ``filter_7``).
        op: what the operator does, with its arguments as typed fields.
        name: short human label (the API verb, or the name a hand-built plan gives it).
        upstream / downstream: ids of input / output operators, in input order.
        schema: output schema, inferred when the node is built.
        parallelism: tasks this operator runs as on a cluster (None: the job's default).
        declared: for a node built from ``operator_type`` and ``parameters`` whose operator
            needs its inputs (or a parameter still missing), the type and parameters it is
            built from when its graph is validated; None otherwise.

    A node is built from its operator (``op=``, as the Stream API builds them), or from its
    type and ``parameters`` (see :mod:`sabot_lab.logical.parameters`), as plans read from
    JSON and hand-built plans are; ``stateful`` and ``key_by`` are the operator's properties
    and, when given, must agree with them:

    >>> from sabot_lab.logical import Filter
    >>> from sabot_lab.expr import col
    >>> a = StreamOperatorNode("f", op=Filter(predicate=col("x") > 1), name="filter")
    >>> b = StreamOperatorNode("f", OperatorType.FILTER, "filter", parameters={"predicate": col("x") > 1})
    >>> a.to_dict() == b.to_dict(), b.operator_type.value, b.stateful
    (True, 'filter', False)

    The document's way, with a generated id and parameters given later than the type:

    >>> node = StreamOperatorNode(operator_type=OperatorType.FILTER, name="filter_price")
    >>> node.operator_id.startswith("filter_"), node.declared
    (True, (<OperatorType.FILTER: 'filter'>, {}))
    """

    operator_id: str
    op: Operator
    name: str
    upstream: tuple[str, ...]
    downstream: tuple[str, ...]
    schema: pa.Schema | None
    parallelism: int | None
    declared: tuple[OperatorType, Mapping[str, Any]] | None

    def __init__(
        self,
        operator_id: str | None = None,
        operator_type: OperatorType | str | None = None,
        name: str | None = None,
        upstream: Sequence[str] = (),
        downstream: Sequence[str] = (),
        parameters: Mapping[str, Any] | None = None,
        schema: pa.Schema | None = None,
        parallelism: int | None = None,
        stateful: bool | None = None,
        key_by: Sequence[str] | None = None,
        *,
        op: Operator | None = None,
    ) -> None:
        declared: tuple[OperatorType, dict[str, Any]] | None = None
        if op is not None:
            if parameters is not None or operator_type not in (None, op.kind):
                raise PlanError(
                    f"operator {operator_id!r}: give its operator or its kind, not both"
                )
            kind = op.kind
        elif operator_type is None:
            raise PlanError(f"operator {operator_id or name!r} needs an operator_type")
        else:
            kind = OperatorType(operator_type)
        operator_id = operator_id or new_operator_id(kind)
        if op is None:
            try:
                op = operator_from_parameters(kind, parameters or {})
            except MissingParameters:  # built once its inputs are known (JobGraph.validate)
                declared = (kind, dict(parameters or {}))
            except PlanError as exc:
                raise PlanError(f"operator {operator_id!r} ({name or kind.value}): {exc}") from None
        if parallelism is not None and (not isinstance(parallelism, int) or parallelism < 1):
            raise PlanError(
                f"operator {operator_id!r}: parallelism must be at least 1, got {parallelism!r}"
            )
        values = (
            operator_id,
            op,
            name if name is not None else kind.value,
            tuple(upstream),
            tuple(downstream),
            schema,
            parallelism,
            declared,
        )
        self.__dict__.update(zip(_NODE_FIELDS, values, strict=True))
        if op is None:  # no operator yet: ``op`` raises until the graph builds it
            del self.__dict__["op"]
            return
        if stateful is not None and stateful != op.stateful:
            raise PlanError(
                f"operator {operator_id!r}: a {op.kind.value} is stateful={op.stateful}"
            )
        if key_by is not None and tuple(key_by) != self.key_by:
            raise PlanError(
                f"operator {operator_id!r}: a {op.kind.value} is keyed by {list(self.key_by)}, "
                f"not {list(key_by)}"
            )

    def __getattr__(self, name: str) -> Any:
        if name == "op" and self.__dict__.get("declared") is not None:
            raise PlanError(
                f"operator {self.operator_id!r} ({self.name}) is not built yet: "
                "JobGraph.validate() builds it from its parameters and inputs"
            )
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"StreamOperatorNode is immutable: use replace({name}=...)")

    @property
    def operator_type(self) -> OperatorType:
        """The operator's kind."""
        return self.op.kind if self.declared is None else self.declared[0]

    @property
    def parameters(self) -> Mapping[str, Any]:
        """The operator's fields that differ from their defaults, by name (as in JSON); the
        parameters it was given while it is not built."""
        return self.op.parameters() if self.declared is None else self.declared[1]

    @property
    def stateful(self) -> bool:
        """True if the operator keeps state across batches."""
        return self.op.stateful

    @property
    def key_by(self) -> tuple[str, ...]:
        """The key columns state and exchanges are partitioned by."""
        return self.op.key_by(self.schema)

    @property
    def output_schema(self) -> pa.Schema:
        """The output schema (every node built by the Stream API has one).

        >>> from sabot_lab.logical import Limit
        >>> StreamOperatorNode("a", op=Limit(n=1), name="limit").output_schema
        Traceback (most recent call last):
        ...
        sabot_lab.errors.PlanError: operator 'a' (limit) has no output schema
        """
        if self.schema is None:
            raise PlanError(f"operator {self.operator_id!r} ({self.name}) has no output schema")
        return self.schema

    def label(self) -> str:
        """The name and arguments in one line, as plans print it.

        >>> from sabot_lab.logical import Limit
        >>> StreamOperatorNode("a", op=Limit(n=3), name="head").label()
        'head n=3'
        """
        args = self.op.describe(self.name) if self.declared is None else ""
        return f"{self.name} {args}" if args else self.name

    def replace(self, **changes: Any) -> StreamOperatorNode:
        """Return a copy with some fields changed.

        >>> from sabot_lab.logical import Limit
        >>> StreamOperatorNode("a", op=Limit(n=1), name="limit").replace(name="head").name
        'head'
        """
        if not _FIELD_SET.issuperset(changes):
            raise TypeError(
                f"StreamOperatorNode has no field(s) {sorted(changes.keys() - _FIELD_SET)}"
            )
        node = object.__new__(StreamOperatorNode)  # a plain copy: the optimizer calls this a lot
        fields = node.__dict__
        fields.update(self.__dict__)
        fields.update(changes)
        return node

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form of this node."""
        return {
            "operator_id": self.operator_id,
            "operator_type": self.operator_type.value,
            "name": self.name,
            "upstream": list(self.upstream),
            "downstream": list(self.downstream),
            "parameters": {k: encode(v) for k, v in self.parameters.items()},
            "schema": schema_to_b64(self.schema) if self.schema is not None else None,
            "parallelism": self.parallelism,
        }

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> StreamOperatorNode:
        """Rebuild a node from :meth:`to_dict` output."""
        try:
            return StreamOperatorNode(
                operator_id=data["operator_id"],
                operator_type=OperatorType(data["operator_type"]),
                name=data["name"],
                upstream=tuple(data.get("upstream", ())),
                downstream=tuple(data.get("downstream", ())),
                parameters={k: decode(v) for k, v in data.get("parameters", {}).items()},
                schema=schema_from_b64(data["schema"]) if data.get("schema") else None,
                parallelism=data.get("parallelism"),
            )
        except (KeyError, ValueError) as exc:
            raise PlanError(f"invalid operator data {dict(data)!r}: {exc}") from exc

    def __repr__(self) -> str:
        return f"StreamOperatorNode({self.operator_id!r}, {self.label()!r})"


def fused_members(node: StreamOperatorNode) -> list[StreamOperatorNode]:
    """The operators a node runs: the members of a fused operator, else the node itself.

    >>> from sabot_lab.logical import Limit
    >>> [n.name for n in fused_members(StreamOperatorNode("l", op=Limit(n=1), name="limit"))]
    ['limit']
    """
    if isinstance(node.op, Fused):
        return list(node.op.operators)
    return [node]


def _build_node(node: StreamOperatorNode, inputs: Sequence[pa.Schema | None]) -> StreamOperatorNode:
    """``node`` with its operator built from its parameters (when declared by them) and its
    output schema (when its fields give it and its ``inputs`` schemas are known); errors
    name the node."""
    known = [i for i in inputs if i is not None]
    try:
        if node.declared is not None:
            kind, parameters = node.declared
            node = node.replace(op=operator_from_parameters(kind, parameters, known), declared=None)
        if node.schema is None and len(known) == len(inputs):
            node = node.replace(schema=node.op.schema(known))
    except (PlanError, SchemaError) as exc:
        error = SchemaError if isinstance(exc, SchemaError) else PlanError
        raise error(f"operator {node.operator_id!r} ({node.name}): {exc}") from None
    except KeyError as exc:  # a field names a column its input lacks
        raise SchemaError(f"operator {node.operator_id!r} ({node.name}): no column {exc}") from None
    return node


class JobGraph:
    """A logical plan: operators keyed by id, edges recorded on both endpoints.

    The Stream API builds these; building one by hand looks like this:

    >>> from sabot_lab.expr import col
    >>> from sabot_lab.logical import Filter
    >>> import sabot_lab as sl
    >>> numbers = sl.from_pydict({"x": [1, 2]}).graph.sources()[0].op
    >>> g = JobGraph("by_hand")
    >>> src = g.add_operator(StreamOperatorNode("src", op=numbers, name="source"))
    >>> flt = g.add_operator(StreamOperatorNode("flt", op=Filter(predicate=col("x") > 1), name="filter"))
    >>> g.connect(src, flt)
    >>> g.validate()
    >>> [n.operator_id for n in g.topological_sort()], [n.operator_id for n in g.sinks()]
    (['src', 'flt'], ['flt'])
    >>> JobGraph.from_json(g.to_json()).node("flt").upstream
    ('src',)
    """

    def __init__(
        self, job_name: str = "job", nodes: Mapping[str, StreamOperatorNode] | None = None
    ) -> None:
        self.job_name = job_name
        self._nodes: dict[str, StreamOperatorNode] = dict(nodes or {})

    @property
    def nodes(self) -> Mapping[str, StreamOperatorNode]:
        """The operators, keyed by id, in insertion order."""
        return self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[StreamOperatorNode]:
        return iter(self._nodes.values())

    def node(self, operator_id: str) -> StreamOperatorNode:
        """The operator with this id."""
        try:
            return self._nodes[operator_id]
        except KeyError:
            raise PlanError(f"no operator {operator_id!r} in job graph {self.job_name!r}") from None

    def copy(self) -> JobGraph:
        """A copy that can be extended without changing this graph (nodes are shared)."""
        return JobGraph(self.job_name, self._nodes)

    @staticmethod
    def from_upstream(job_name: str, nodes: Iterable[StreamOperatorNode]) -> JobGraph:
        """A graph of operators whose ``upstream`` ids are set; ``downstream`` is derived.

        >>> from sabot_lab.logical import Limit
        >>> a = StreamOperatorNode("a", op=Limit(n=2), name="first")
        >>> b = StreamOperatorNode("b", op=Limit(n=1), name="limit", upstream=("a",))
        >>> JobGraph.from_upstream("job", [a, b]).node("a").downstream
        ('b',)
        """
        nodes = list(nodes)
        consumers: dict[str, list[str]] = {n.operator_id: [] for n in nodes}
        for node in nodes:
            for upstream in node.upstream:
                if upstream not in consumers:
                    raise PlanError(f"operator {node.operator_id!r} reads unknown {upstream!r}")
                consumers[upstream].append(node.operator_id)
        return JobGraph(
            job_name,
            {n.operator_id: n.replace(downstream=tuple(consumers[n.operator_id])) for n in nodes},
        )

    def add_operator(self, node: StreamOperatorNode) -> str:
        """Add an operator (its edges are added with :meth:`connect`) and return its id."""
        if node.operator_id in self._nodes:
            raise PlanError(
                f"operator id {node.operator_id!r} already in job graph {self.job_name!r}"
            )
        self._nodes[node.operator_id] = node.replace(upstream=(), downstream=())
        return node.operator_id

    def add_new_operator(
        self, op: Operator, name: str, inputs: Sequence[str], schema: pa.Schema
    ) -> str:
        """Add an operator with a fresh id reading ``inputs`` (in order); return its id.

        >>> from sabot_lab.logical import Limit
        >>> g = JobGraph()
        >>> _ = g.add_operator(StreamOperatorNode("s", op=Limit(n=5), name="first"))
        >>> lim = g.add_new_operator(Limit(n=1), "limit", ["s"], pa.schema([]))
        >>> g.node(lim).upstream, g.node(lim).parameters
        (('s',), {'n': 1})
        """
        operator_id = new_operator_id(op.kind)
        while operator_id in self._nodes:  # a plan built in another process may hold it
            operator_id = new_operator_id(op.kind)
        node = StreamOperatorNode(operator_id, name=name, schema=schema, op=op)
        self.add_operator(node)
        for upstream in inputs:
            self.connect(upstream, node.operator_id)
        return node.operator_id

    def replace_operator(self, node: StreamOperatorNode) -> None:
        """Swap in a new version of an existing operator, keeping its edges."""
        old = self.node(node.operator_id)
        self._nodes[node.operator_id] = node.replace(
            upstream=old.upstream, downstream=old.downstream
        )

    def connect(self, upstream_id: str, downstream_id: str) -> None:
        """Add an edge; the downstream operator's inputs keep the order of ``connect`` calls."""
        up, down = self.node(upstream_id), self.node(downstream_id)
        self._nodes[upstream_id] = up.replace(downstream=(*up.downstream, downstream_id))
        self._nodes[downstream_id] = down.replace(upstream=(*down.upstream, upstream_id))

    def insert_between(self, upstream_id: str, downstream_id: str, node: StreamOperatorNode) -> str:
        """Put a new single-input operator on the edge ``upstream -> downstream`` (keeping the
        edge's input position at ``downstream``) and return its id.

        >>> from sabot_lab.logical import Limit
        >>> g = JobGraph()
        >>> for i in ("s", "l"):
        ...     _ = g.add_operator(StreamOperatorNode(i, op=Limit(n=1), name=i))
        >>> g.connect("s", "l")
        >>> g.insert_between("s", "l", StreamOperatorNode("f", op=Limit(n=2), name="f"))
        'f'
        >>> [n.operator_id for n in g.topological_sort()]
        ['s', 'f', 'l']
        """
        up, down = self.node(upstream_id), self.node(downstream_id)
        if upstream_id not in down.upstream:
            raise PlanError(
                f"no edge {upstream_id} -> {downstream_id} in job graph {self.job_name!r}"
            )
        new_id = node.operator_id
        if new_id in self._nodes:
            raise PlanError(f"operator id {new_id!r} already in job graph {self.job_name!r}")
        self._nodes[new_id] = node.replace(upstream=(upstream_id,), downstream=(downstream_id,))
        self._nodes[upstream_id] = up.replace(
            downstream=tuple(new_id if d == downstream_id else d for d in up.downstream)
        )
        self._nodes[downstream_id] = down.replace(
            upstream=tuple(new_id if u == upstream_id else u for u in down.upstream)
        )
        return new_id

    def disconnect(self, upstream_id: str, downstream_id: str) -> None:
        """Remove the edge ``upstream -> downstream``."""
        up, down = self.node(upstream_id), self.node(downstream_id)
        self._nodes[upstream_id] = up.replace(
            downstream=tuple(d for d in up.downstream if d != downstream_id)
        )
        self._nodes[downstream_id] = down.replace(
            upstream=tuple(u for u in down.upstream if u != upstream_id)
        )

    def redirect(self, old_id: str, new_id: str) -> None:
        """Make every consumer of ``old_id`` read ``new_id`` instead (input positions kept).

        >>> from sabot_lab.logical import Limit
        >>> g = JobGraph()
        >>> for i in ("a", "b", "l"):
        ...     _ = g.add_operator(StreamOperatorNode(i, op=Limit(n=1), name=i))
        >>> g.connect("a", "l"); g.redirect("a", "b"); g.node("l").upstream, g.node("a").downstream
        (('b',), ())
        """
        old, new = self.node(old_id), self.node(new_id)
        for down_id in old.downstream:
            down = self.node(down_id)
            self._nodes[down_id] = down.replace(
                upstream=tuple(new_id if u == old_id else u for u in down.upstream)
            )
        self._nodes[new_id] = new.replace(downstream=new.downstream + old.downstream)
        self._nodes[old_id] = old.replace(downstream=())

    def splice_out(self, operator_id: str) -> None:
        """Remove a single-input operator, wiring its input straight to its consumers.

        >>> from sabot_lab.logical import Limit
        >>> g = JobGraph()
        >>> for i in ("s", "f"):
        ...     _ = g.add_operator(StreamOperatorNode(i, op=Limit(n=1), name=i))
        >>> g.connect("s", "f"); g.splice_out("f"); [n.operator_id for n in g]
        ['s']
        """
        node = self.node(operator_id)
        if len(node.upstream) != 1:
            raise PlanError(f"operator {operator_id!r} has {len(node.upstream)} inputs, not 1")
        (up_id,) = node.upstream
        up = self.node(up_id)
        rest = tuple(d for d in up.downstream if d != operator_id)
        self._nodes[up_id] = up.replace(downstream=rest + node.downstream)
        for down_id in node.downstream:
            down = self.node(down_id)
            self._nodes[down_id] = down.replace(
                upstream=tuple(up_id if u == operator_id else u for u in down.upstream)
            )
        del self._nodes[operator_id]

    def remove_branch(self, operator_id: str) -> list[str]:
        """Remove an operator that has no consumers, then every input left without consumers;
        return the removed ids.

        >>> from sabot_lab.logical import Limit
        >>> g = JobGraph()
        >>> for i in ("s", "f"):
        ...     _ = g.add_operator(StreamOperatorNode(i, op=Limit(n=1), name=i))
        >>> g.connect("s", "f"); g.remove_branch("f"), len(g)
        (['f', 's'], 0)
        """
        node = self.node(operator_id)
        if node.downstream:
            raise PlanError(f"operator {operator_id!r} still has consumers {list(node.downstream)}")
        removed = [operator_id]
        del self._nodes[operator_id]
        for up_id in dict.fromkeys(node.upstream):
            up = self.node(up_id)
            self._nodes[up_id] = up.replace(
                downstream=tuple(d for d in up.downstream if d != operator_id)
            )
            if not self._nodes[up_id].downstream:
                removed += self.remove_branch(up_id)
        return removed

    def merge(self, other: JobGraph) -> JobGraph:
        """A new graph holding the operators of both (shared operators appear once)."""
        merged = self.copy()
        for node_id, node in other.nodes.items():
            mine = merged._nodes.get(node_id)
            if mine is None:
                merged._nodes[node_id] = node
            else:  # the same operator reached from both sides: union its consumers
                extra = tuple(d for d in node.downstream if d not in mine.downstream)
                merged._nodes[node_id] = mine.replace(downstream=mine.downstream + extra)
        return merged

    def sources(self) -> list[StreamOperatorNode]:
        """Operators with no inputs."""
        return [n for n in self._nodes.values() if not n.upstream]

    def sinks(self) -> list[StreamOperatorNode]:
        """Operators with no consumers (the plan's outputs)."""
        return [n for n in self._nodes.values() if not n.downstream]

    def topological_sort(self) -> list[StreamOperatorNode]:
        """Operators ordered so every operator comes after all of its inputs (Kahn's algorithm)."""
        indegree = {i: len(n.upstream) for i, n in self._nodes.items()}
        ready = [i for i, d in indegree.items() if d == 0]
        order: list[StreamOperatorNode] = []
        while ready:
            current = ready.pop(0)
            order.append(self._nodes[current])
            for child in self._nodes[current].downstream:
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
        if len(order) != len(self._nodes):
            stuck = sorted(i for i, d in indegree.items() if d > 0)
            raise PlanError(f"job graph {self.job_name!r} has a cycle through {', '.join(stuck)}")
        return order

    def validate(self) -> None:
        """Check the graph can run: edges are symmetric and name operators of the graph,
        input counts fit each operator, a sink ends the graph, there is no cycle, and every
        operator built from parameters builds with its inputs (naming the operator and the
        parameter missing or refused).

        >>> from sabot_lab.logical import Limit
        >>> g = JobGraph("bad")
        >>> _ = g.add_operator(StreamOperatorNode("f", op=Limit(n=1), name="limit"))
        >>> g.validate()
        Traceback (most recent call last):
        ...
        sabot_lab.errors.PlanError: operator 'f' (limit) needs at least 1 input, has 0
        """
        self._check_structure()
        if any(n.declared is not None for n in self._nodes.values()):
            self._build_all()

    def _check_structure(self) -> None:
        for node in self._nodes.values():
            missing = [i for i in (*node.upstream, *node.downstream) if i not in self._nodes]
            if missing:
                raise PlanError(
                    f"operator {node.operator_id!r} ({node.name}) is connected to unknown "
                    f"operator(s) {', '.join(map(repr, missing))}: add them to job graph "
                    f"{self.job_name!r} or remove the edge"
                )
        for node in self._nodes.values():
            for up in node.upstream:
                if node.operator_id not in self.node(up).downstream:
                    raise PlanError(f"edge {up} -> {node.operator_id} is recorded on one side only")
            for down in node.downstream:
                if node.operator_id not in self.node(down).upstream:
                    raise PlanError(
                        f"edge {node.operator_id} -> {down} is recorded on one side only"
                    )
            cls = operator_class(node.operator_type)
            low, high = cls.inputs
            n = len(node.upstream)
            if n < low:
                raise PlanError(
                    f"operator {node.operator_id!r} ({node.name}) needs at least {low} "
                    f"input{'s' if low > 1 else ''}, has {n}"
                )
            if high is not None and n > high:
                raise PlanError(
                    f"operator {node.operator_id!r} ({node.name}) takes at most {high} "
                    f"input{'s' if high > 1 else ''}, has {n}"
                )
            if cls.job_output and node.downstream:
                raise PlanError(
                    f"sink {node.operator_id!r} ({node.name}) is read by "
                    f"{', '.join(map(repr, node.downstream))}: a sink ends a job graph"
                )
        self.topological_sort()

    def resolved(self) -> JobGraph:
        """A copy in which every operator is built (those declared by parameters, now that
        their inputs are known) and has its output schema, where its fields give it.

        >>> from sabot_lab.expr import col
        >>> import sabot_lab as sl
        >>> g = JobGraph(job_name="hand_built")
        >>> src = g.add_operator(StreamOperatorNode(
        ...     operator_type=OperatorType.SOURCE, name="numbers",
        ...     parameters={"source": sl.from_pydict({"x": [1, 2]}).graph.sources()[0].op.source}))
        >>> keep = g.add_operator(StreamOperatorNode(operator_type="filter", name="big"))
        >>> g.connect(src, keep)
        >>> g.resolved()
        Traceback (most recent call last):
        ...
        sabot_lab.errors.PlanError: operator 'filter_...' (big): a filter operator needs parameter predicate
        """
        self._check_structure()
        return self._build_all()

    def _build_all(self) -> JobGraph:
        """:meth:`resolved` of a graph whose structure is checked."""
        built = JobGraph(self.job_name, self._nodes)
        for node in self.topological_sort():
            node = _build_node(node, [built._nodes[u].schema for u in node.upstream])
            built._nodes[node.operator_id] = node
        return built

    def output(self) -> str:
        """The id of the graph's one output (the operator no other reads), as a job has.

        >>> from sabot_lab.logical import Limit
        >>> g = JobGraph("two")
        >>> for i in ("a", "b"):
        ...     _ = g.add_operator(StreamOperatorNode(i, op=Limit(n=1), name=i))
        >>> g.output()
        Traceback (most recent call last):
        ...
        sabot_lab.errors.PlanError: job graph 'two' has 2 outputs ('a' (a), 'b' (b)); a job has one: connect the others towards it or remove them
        """
        outputs = self.sinks()
        if len(outputs) != 1:
            names = ", ".join(f"{n.operator_id!r} ({n.name})" for n in outputs)
            raise PlanError(
                f"job graph {self.job_name!r} has {len(outputs)} outputs ({names}); a job has "
                "one: connect the others towards it or remove them"
            )
        return outputs[0].operator_id

    def without_sink(self) -> tuple[JobGraph, StreamOperatorNode | None]:
        """The graph without its sink, and the sink's node (None when the graph has none):
        the JobManager writes a job's rows to the sink, the rest of the graph is what runs.

        >>> from sabot_lab.logical import Limit
        >>> g = JobGraph("job")
        >>> a = g.add_operator(StreamOperatorNode("a", op=Limit(n=1), name="a"))
        >>> out = g.add_operator(StreamOperatorNode(operator_type="sink", name="out",
        ...     parameters={"target": {"kind": "parquet", "location": "/tmp/x"}}))
        >>> g.connect(a, out)
        >>> rest, sink = g.without_sink()
        >>> list(rest.nodes), sink.label()
        (['a'], 'out parquet /tmp/x')
        """
        sinks = [n for n in self._nodes.values() if n.operator_type is OperatorType.SINK]
        if not sinks:
            return self, None
        sink = self.node(self.output())
        if sink.operator_type is not OperatorType.SINK:
            raise PlanError(
                f"sink {sinks[0].operator_id!r} ({sinks[0].name}) does not end job graph "
                f"{self.job_name!r}: a sink is its one output"
            )
        rest = self.copy()
        for upstream in sink.upstream:
            rest.disconnect(upstream, sink.operator_id)
        del rest._nodes[sink.operator_id]
        return rest, sink

    def with_sink(self, sink: StreamOperatorNode) -> JobGraph:
        """A copy with ``sink`` (from :meth:`without_sink`) reading this graph's output."""
        graph = self.copy()
        output = graph.output()
        graph.add_operator(sink)
        graph.connect(output, sink.operator_id)
        return graph

    def bounded(self, node_id: str) -> bool:
        """Whether the output of ``node_id`` ends: every source it reads is bounded."""
        return all(n.op.source.bounded for n in self.ancestry(node_id) if isinstance(n.op, Source))

    def event_time(self, node_id: str) -> dict[str, Any] | None:
        """The event-time settings the output of ``node_id`` carries watermarks under (those
        of the nearest ``with_watermark`` upstream, or of a source that carries watermarks
        itself: ``{"idle_timeout": microseconds or None}``), or None when it has no event time.
        """
        op = self.node(node_id).op
        if isinstance(op, Watermark):
            return {"idle_timeout": op.idle_timeout}
        if isinstance(op, Source):
            return op.source.event_time
        if isinstance(op, SymmetricJoin) and not op.passes_watermark:
            return None  # its rows come in no time order: none passes
        found = (self.event_time(u) for u in self.node(node_id).upstream)
        return next((t for t in found if t is not None), None)

    def ancestry(self, output_id: str) -> list[StreamOperatorNode]:
        """The operators ``output_id`` depends on, itself first (the graph's own nodes: no
        new graph is built, as :meth:`subgraph` does).

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"x": [1]}).head(1)
        >>> [n.name for n in s.graph.ancestry(s.node_id)]
        ['limit', 'source']
        """
        keep: dict[str, StreamOperatorNode] = {}
        stack = [output_id]
        while stack:
            current = stack.pop()
            if current not in keep:
                keep[current] = node = self.node(current)
                stack.extend(node.upstream)
        return list(keep.values())

    def column_origin(
        self, node_id: str, column: str, passes: Callable[[Operator], bool]
    ) -> tuple[StreamOperatorNode, str] | None:
        """Follow ``column`` of ``node_id``'s rows upstream through the one-input operators
        that ``passes`` (under a projection's renames): the first operator it does not pass,
        and the column's name there; None where a projection computes the column.

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"x": [1]}).select(sl.col("x").alias("y")).head(1)
        >>> node, name = s.graph.column_origin(s.node_id, "y", lambda op: True)
        >>> node.name, name
        ('source', 'x')
        """
        node = self.node(node_id)
        while len(node.upstream) == 1 and passes(node.op):
            if isinstance(node.op, Project):
                passed = node.op.passed_columns().get(column)
                if passed is None:
                    return None
                column = passed
            node = self.node(node.upstream[0])
        return node, column

    def subgraph(self, output_id: str) -> JobGraph:
        """The operators ``output_id`` depends on (itself included), as a new graph."""
        keep = {n.operator_id for n in self.ancestry(output_id)}
        nodes = {
            i: n.replace(downstream=tuple(d for d in n.downstream if d in keep))
            for i, n in self._nodes.items()
            if i in keep
        }
        return JobGraph(self.job_name, nodes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: ``{"job_name": ..., "nodes": [...]}`` in insertion order.

        >>> import sabot_lab as sl
        >>> g = sl.from_pydict({"x": [1]}).limit(1).graph
        >>> JobGraph.from_dict(json.loads(json.dumps(g.to_dict()))).to_dict() == g.to_dict()
        True
        """
        return {"job_name": self.job_name, "nodes": [n.to_dict() for n in self._nodes.values()]}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> JobGraph:
        """Rebuild a graph from :meth:`to_dict` output and validate it."""
        if not isinstance(data, Mapping) or "nodes" not in data:
            raise PlanError("a job graph dict needs a 'nodes' list")
        nodes = [StreamOperatorNode.from_dict(n) for n in data["nodes"]]
        graph = JobGraph(data.get("job_name", "job"), {n.operator_id: n for n in nodes})
        graph.validate()
        return graph

    def to_json(self) -> str:
        """The graph as a JSON string."""
        return json.dumps(self.to_dict())

    @staticmethod
    def from_json(text: str) -> JobGraph:
        """Rebuild a graph from :meth:`to_json` output."""
        return JobGraph.from_dict(json.loads(text))

    def __repr__(self) -> str:
        return f"JobGraph({self.job_name!r}, {len(self)} operators)"
