"""The ``parameters`` of each operator type, as a hand-built :class:`~sabot_lab.logical.JobGraph`
gives them, and how they become a typed operator.

A node built from ``operator_type`` and ``parameters`` (rather than from a typed operator)
names its arguments as a data engineer would, the way Polars does, and its typed operator is
built from them once its inputs are known (:meth:`JobGraph.validate`, or any optimize,
submit or ``Stream.from_graph``). Besides the operator's own fields (see
:mod:`sabot_lab.logical.operators`), each type takes:

================  ===========================================================================
operator type     parameters
================  ===========================================================================
``source``        ``source`` (a source object or its dict), or where to read: ``path`` (a
                  Parquet or CSV file, directory or glob; ``format`` ``"parquet"`` or
                  ``"csv"``, default from the path's extension), or Kafka: ``kafka_topic``,
                  ``bootstrap_servers``, ``group_id``, ``format`` (``json``, ``avro``,
                  ``raw``, ``arrow``), ``schema``, ``start``, ``stop``
``filter``        ``predicate``: a boolean expression
``select``        ``columns``: column names or expressions (or ``exprs``)
``hash_join``     ``on`` (or ``left_on`` and ``right_on``), ``how`` (``inner``, ``left``,
                  ``semi``, ``anti``; default ``inner``), ``suffix``; the first input is the
                  left side (probe), the second the right (build; ``build_side="left"``:
                  a semi or anti join builds on the left)
``group_by``      ``keys`` (names), ``aggs`` (aggregate expressions); ``aggregate`` the same
                  with no keys
``*_window``      ``window`` (a window spec: ``sl.tumbling("10s", on="t")`` or its dict),
                  ``keys``, ``aggs``
``sort``          ``by`` (names or expressions), ``descending`` (one flag or one per key)
``limit``         ``n``, ``offset``
``sink``          ``target`` (a sink object or its dict), or where to write: ``path`` (a
                  Parquet directory), Kafka (``kafka_topic``, ``bootstrap_servers``,
                  ``format``, ``key``) or PostgreSQL (``postgres_url``, ``table``, ``key``)
================  ===========================================================================

An expression is a sabot-lab expression (``sl.col("px") > 100``), its JSON form
(``Expr.to_dict()``, as a plan's JSON holds it), or SQL text (``"px > 100"``,
``"SUM(px * qty) AS total"``, read over the operator's input once it is known, by the parser
:mod:`sabot_lab.sql` registers); in a list of expressions a column's name stands for the
column; a list of names may be one name.

Sources and sinks from connector parameters are made by the connectors
(:mod:`sabot_lab.connectors.parameters` registers them here), so this layer imports none.

>>> from sabot_lab.expr import col
>>> operator_from_parameters("select", {"columns": ["a", col("b") * 2]}).exprs
[col("a"), (col("b") * 2)]
>>> operator_from_parameters("filter", {"predicate": (col("x") > 1).to_dict()}).predicate
(col("x") > 1)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from sabot_lab.errors import PlanError, SchemaError, SQLError, column_not_found
from sabot_lab.expr import Expr, col
from sabot_lab.logical.codec import decode
from sabot_lab.logical.operators import Operator, OperatorType, operator_class
from sabot_lab.logical.sources import source_from_dict

__all__ = [
    "MissingParameters",
    "accepted_parameters",
    "operator_from_parameters",
    "register_sink_parameters",
    "register_source_parameters",
    "register_sql_expressions",
]


class MissingParameters(PlanError):
    """An operator's parameters lack one it needs, or it needs its input schemas to be
    built (a node keeps its parameters until its graph is validated)."""


Resolver = Callable[[Mapping[str, Any]], Any]
"""Turns connector parameters into a source (a ``SourceSpec``) or a sink's dict."""


@dataclasses.dataclass(frozen=True)
class _Connector:
    key: str  # the parameter that says this connector is meant (``path``, ``kafka_topic``)
    names: frozenset[str]  # every parameter it takes
    resolve: Resolver


_CONNECTORS: dict[OperatorType, list[_Connector]] = {OperatorType.SOURCE: [], OperatorType.SINK: []}


def register_source_parameters(key: str, names: Sequence[str], resolver: Resolver) -> None:
    """Make ``resolver`` build the source of a SOURCE node whose parameters include ``key``
    (e.g. ``kafka_topic``); ``names``: every parameter that connector takes."""
    _CONNECTORS[OperatorType.SOURCE].append(_Connector(key, frozenset((key, *names)), resolver))


def register_sink_parameters(key: str, names: Sequence[str], resolver: Resolver) -> None:
    """Make ``resolver`` build the target dict of a SINK node whose parameters include
    ``key`` (e.g. ``postgres_url``); ``names``: every parameter that connector takes."""
    _CONNECTORS[OperatorType.SINK].append(_Connector(key, frozenset((key, *names)), resolver))


SqlParser = Callable[[str, pa.Schema], Expr]
"""Reads SQL expression text over the rows of a schema."""

_SQL: list[SqlParser] = []


def register_sql_expressions(parser: SqlParser) -> None:
    """Make ``parser`` read the SQL text parameters give for expressions."""
    _SQL[:] = [parser]


_OWN: dict[OperatorType, tuple[str, ...]] = {
    OperatorType.SELECT: ("columns",),
    OperatorType.HASH_JOIN: ("on",),
}
"""The parameters of a type that are not fields of its operator class (connector
parameters of sources and sinks aside)."""


def _connector_names(kind: OperatorType) -> frozenset[str]:
    return frozenset().union(*(c.names for c in _CONNECTORS.get(kind, [])))


def accepted_parameters(kind: OperatorType | str) -> list[str]:
    """The parameter names an operator type takes, sorted.

    >>> accepted_parameters("hash_join")
    ['build_side', 'how', 'left_on', 'left_payload', 'on', 'payload_names', 'right_on', 'right_payload', 'suffix']
    """
    cls = operator_class(kind)
    fields = {f.name for f in dataclasses.fields(cls)}
    return sorted(fields | set(_OWN.get(cls.kind, ())) | _connector_names(cls.kind))


def operator_from_parameters(
    kind: OperatorType | str,
    parameters: Mapping[str, Any],
    inputs: Sequence[pa.Schema] | None = None,
) -> Operator:
    """The operator of a type built from its ``parameters`` (see the module), given the
    schemas of its ``inputs`` when known. Raises :class:`MissingParameters` when one it
    needs is missing or it needs ``inputs``, :class:`PlanError` for names it does not take.

    >>> from sabot_lab.logical import Limit
    >>> operator_from_parameters("limit", {"n": 2})
    Limit(n=2, offset=0)
    >>> operator_from_parameters("limit", {"rows": 2})
    Traceback (most recent call last):
    ...
    sabot_lab.errors.PlanError: a limit operator takes n, offset; got rows
    >>> operator_from_parameters("filter", {})
    Traceback (most recent call last):
    ...
    sabot_lab.logical.parameters.MissingParameters: a filter operator needs parameter predicate
    """
    cls = operator_class(kind)
    names = accepted_parameters(cls.kind)
    unknown = [k for k in parameters if k not in names]
    if unknown:
        raise PlanError(
            f"a {cls.kind.value} operator takes {', '.join(names) or 'no parameters'}; "
            f"got {', '.join(unknown)}"
        )
    fields = _FIELDS.get(cls.kind, _as_given)(dict(parameters), inputs)
    required = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [n for n in required if n not in fields]
    if missing:
        keys = [c.key for c in _CONNECTORS.get(cls.kind, [])]
        where = f" (or where it goes: {', '.join(keys)})" if keys else ""
        raise MissingParameters(
            f"a {cls.kind.value} operator needs parameter{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}{where}"
        )
    return cls(**fields)


# ----------------------------------------------------------------------------- values
def _expr(value: Any, what: str, inputs: Sequence[pa.Schema] | None) -> Expr:
    """An expression, its JSON form (``Expr.to_dict()`` or the plan codec's), or SQL text
    read over the first of ``inputs``."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, str):
        return _sql(value, what, inputs)
    if isinstance(value, Mapping):
        try:
            found = decode(dict(value)) if "$expr" in value else Expr.from_dict(dict(value))
        except (KeyError, TypeError, ValueError, PlanError) as exc:
            raise PlanError(f"{what} is not an expression's JSON form: {exc}") from None
        if isinstance(found, Expr):
            return found
    raise PlanError(
        f"{what} must be an expression (sl.col(...) > ...), its JSON form or SQL text, "
        f"got {value!r}"
    )


def _sql(text: str, what: str, inputs: Sequence[pa.Schema] | None) -> Expr:
    if inputs is None:
        raise MissingParameters(f"{what} {text!r} is SQL, read once the input is known")
    if not _SQL:
        raise PlanError(f"{what} {text!r} is SQL text: import sabot_lab to read it")
    try:
        return _SQL[0](text, inputs[0])
    except SQLError as exc:
        raise PlanError(f"{what} {text!r}: {exc}") from None


def _exprs(value: Any, what: str, inputs: Sequence[pa.Schema] | None) -> list[Expr]:
    """Expressions, a column's name standing for the column (other text is SQL)."""
    items = [value] if isinstance(value, str | Expr | Mapping) else list(value)
    return [
        col(v) if isinstance(v, str) and _is_name(v, inputs) else _expr(v, what, inputs)
        for v in items
    ]


def _is_name(value: str, inputs: Sequence[pa.Schema] | None) -> bool:
    """Whether ``value`` names a column (before the input is known: looks like a name)."""
    if inputs is None:
        return value.isidentifier()
    return value in inputs[0].names


def _names(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _as_given(params: dict[str, Any], inputs: Sequence[pa.Schema] | None) -> dict[str, Any]:
    """The operator's own fields: JSON forms decoded, expressions in expression fields."""
    return {
        k: decode(v) if isinstance(v, list | dict) and _tagged(v) else v for k, v in params.items()
    }


def _tagged(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)).startswith("$")


# ----------------------------------------------------------------------------- per type
def _source(params: dict[str, Any], inputs: Sequence[pa.Schema] | None) -> dict[str, Any]:
    fields: dict[str, Any] = {
        k: params.pop(k) for k in ("columns", "predicate", "limit") if k in params
    }
    if "predicate" in fields:
        if isinstance(fields["predicate"], str):
            raise PlanError("a source's predicate is an expression (sl.col(...)), not SQL text")
        fields["predicate"] = _expr(fields["predicate"], "a source's predicate", None)
    source = params.pop("source", None)
    if isinstance(source, Mapping):
        source = decode(dict(source)) if "$source" in source else source_from_dict(dict(source))
    if source is None and params:
        source = _resolve(OperatorType.SOURCE, params)
    if source is not None:
        fields["source"] = source
    return fields


def _sink(params: dict[str, Any], inputs: Sequence[pa.Schema] | None) -> dict[str, Any]:
    target = params.pop("target", None)
    if target is not None and not isinstance(target, Mapping):
        target = target.to_dict()  # a sink object (ParquetSink, KafkaSink, PostgresSink)
    if target is None and params:
        target = _resolve(OperatorType.SINK, params)
    return {} if target is None else {"target": dict(target)}


def _resolve(kind: OperatorType, params: dict[str, Any]) -> Any:
    """What the connector meant by ``params`` makes of them (its other parameters refused)."""
    connectors = _CONNECTORS[kind]
    for connector in connectors:
        if connector.key in params:
            unknown = sorted(params.keys() - connector.names)
            if unknown:
                raise PlanError(
                    f"a {kind.value} with {connector.key} takes "
                    f"{', '.join(sorted(connector.names))}; got {', '.join(unknown)}"
                )
            return connector.resolve(params)
    keys = ", ".join(c.key for c in connectors)
    raise MissingParameters(
        f"a {kind.value} with {', '.join(sorted(params))} needs where it goes: one of {keys}"
    )


def _filter(params: dict[str, Any], inputs: Sequence[pa.Schema] | None) -> dict[str, Any]:
    if "predicate" in params:
        params["predicate"] = _expr(params["predicate"], "a filter's predicate", inputs)
    return params


def _select(params: dict[str, Any], inputs: Sequence[pa.Schema] | None) -> dict[str, Any]:
    if "columns" in params and "exprs" in params:
        raise PlanError("a select takes columns or exprs, not both")
    if "columns" in params or "exprs" in params:
        given = params.pop("columns") if "columns" in params else params.pop("exprs")
        params["exprs"] = _exprs(given, "a select's column", inputs)
    return params


def _aggregate(params: dict[str, Any], inputs: Sequence[pa.Schema] | None) -> dict[str, Any]:
    if "keys" in params:
        params["keys"] = _names(params["keys"])
    if "aggs" in params:
        params["aggs"] = _exprs(params["aggs"], "an aggregate", inputs)
    return params


def _window(params: dict[str, Any], inputs: Sequence[pa.Schema] | None) -> dict[str, Any]:
    window = params.get("window")
    if window is not None and not isinstance(window, Mapping):
        params["window"] = window.to_dict()  # a WindowSpec (sl.tumbling(...))
    elif isinstance(window, Mapping):
        params["window"] = decode(dict(window)) if _tagged(window) else dict(window)
    return _aggregate(params, inputs)


def _sort(params: dict[str, Any], inputs: Sequence[pa.Schema] | None) -> dict[str, Any]:
    if "by" in params:
        params["by"] = _exprs(params["by"], "a sort key", inputs)
        flags = params.get("descending", False)
        if isinstance(flags, bool):
            params["descending"] = [flags] * len(params["by"])
    return params


def _hash_join(params: dict[str, Any], inputs: Sequence[pa.Schema] | None) -> dict[str, Any]:
    on = params.pop("on", None)
    if on is not None:
        if "left_on" in params or "right_on" in params:
            raise PlanError("a hash_join takes on or left_on and right_on, not both")
        params["left_on"] = params["right_on"] = _names(on)
    for side in ("left_on", "right_on"):
        if side in params:
            params[side] = _names(params[side])
    params.setdefault("how", "inner")
    if not {"left_on", "right_on"} <= params.keys():
        raise MissingParameters("a hash_join operator needs parameter on (or left_on and right_on)")
    if "right_payload" in params:
        return params
    if inputs is None:
        raise MissingParameters("a hash_join needs its inputs to know the right side's columns")
    left, right = inputs
    for side, keys, schema in (("left", "left_on", left), ("right", "right_on", right)):
        for key in params[keys]:
            if key not in schema.names:
                raise SchemaError(
                    f"join key on the {side} side: {column_not_found(key, schema.names)}"
                )
    kept = params["how"] in ("inner", "left")
    params["right_payload"] = (
        [n for n in right.names if n not in params["right_on"]] if kept else []
    )
    return params


_FIELDS: dict[
    OperatorType, Callable[[dict[str, Any], Sequence[pa.Schema] | None], dict[str, Any]]
] = {
    OperatorType.SOURCE: _source,
    OperatorType.SINK: _sink,
    OperatorType.FILTER: _filter,
    OperatorType.SELECT: _select,
    OperatorType.AGGREGATE: _aggregate,
    OperatorType.GROUP_BY: _aggregate,
    OperatorType.TUMBLING_WINDOW: _window,
    OperatorType.SLIDING_WINDOW: _window,
    OperatorType.SESSION_WINDOW: _window,
    OperatorType.CASCADED_WINDOW: _window,
    OperatorType.SORT: _sort,
    OperatorType.HASH_JOIN: _hash_join,
}
"""How each type's parameters become its operator's fields (others: as given)."""
