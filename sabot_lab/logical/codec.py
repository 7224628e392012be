"""JSON-safe encoding of node parameters: expressions as data, schemas as Arrow IPC, UDFs by cloudpickle.

>>> import pyarrow as pa
>>> from sabot_lab.expr import col
>>> from sabot_lab.logical.codec import decode, encode
>>> params = {"predicate": col("x") > 1, "keys": ["a"], "schema": pa.schema([("x", pa.int64())])}
>>> back = decode(encode(params))
>>> back["predicate"].equals(params["predicate"]), back["schema"] == params["schema"]
(True, True)
"""

from __future__ import annotations

import base64
from typing import Any

import cloudpickle
import pyarrow as pa

from sabot_lab.errors import PlanError
from sabot_lab.expr import Expr
from sabot_lab.logical.sources import SourceSpec, source_from_dict

__all__ = ["decode", "encode", "schema_from_b64", "schema_to_b64"]


def schema_to_b64(schema: pa.Schema) -> str:
    """Serialize a schema as base64 Arrow IPC."""
    return base64.b64encode(schema.serialize().to_pybytes()).decode()


def schema_from_b64(text: str) -> pa.Schema:
    """Inverse of :func:`schema_to_b64`."""
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


def encode(value: Any) -> Any:
    """Turn a parameter value into JSON-safe data."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Expr):
        return {"$expr": value.to_dict()}
    if isinstance(value, SourceSpec):
        return {"$source": value.to_dict()}
    if isinstance(value, pa.Schema):
        return {"$schema": schema_to_b64(value)}
    node_class = _node_class()
    if isinstance(value, node_class):
        return {"$node": value.to_dict()}  # the members of a fused operator
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise PlanError(f"parameter dict keys must be strings: {list(value)!r}")
        return {"$dict": {k: encode(v) for k, v in value.items()}}
    if callable(value):
        try:
            return {"$pickle": base64.b64encode(cloudpickle.dumps(value)).decode()}
        except Exception as exc:
            raise PlanError(f"cannot serialize function {value!r}: {exc}") from exc
    raise PlanError(f"cannot serialize parameter value {value!r} ({type(value).__name__})")


def decode(value: Any) -> Any:
    """Inverse of :func:`encode`."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    (tag, raw), *_ = value.items()
    if tag == "$expr":
        return Expr.from_dict(raw)
    if tag == "$source":
        return source_from_dict(raw)
    if tag == "$schema":
        return schema_from_b64(raw)
    if tag == "$node":
        return _node_class().from_dict(raw)
    if tag == "$dict":
        return {k: decode(v) for k, v in raw.items()}
    if tag == "$pickle":
        return cloudpickle.loads(base64.b64decode(raw))
    raise PlanError(f"cannot decode parameter {value!r}")


def _node_class() -> Any:
    from sabot_lab.logical.graph import StreamOperatorNode  # the graph module imports this one

    return StreamOperatorNode
