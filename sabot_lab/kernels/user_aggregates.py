"""Compiled grouped loops of user aggregates (``@sl.udaf``).

A user aggregate is four functions over a *state*, a number or a tuple of numbers and
booleans: ``init()`` (the empty state), ``accumulate(state, *values)`` (one row in),
``merge(state, other)`` (two partial states into one) and ``finalize(state)`` (the group's
value; None gives null). :class:`AggregateFunctions` holds them; :func:`compiled_loops`
compiles them with numba in nopython mode, inlined into three loops over whole arrays:
accumulating rows into per-group states (group ids from the engine's grouping), merging
partial states (two-phase aggregation) and finalizing. With ``compile=False`` the same loops
run as plain Python. A state is kept as one array per element, plus the number of rows
accumulated per group (a group without any gives null, as SQL aggregates do).

numba is imported on first use, not with sabot_lab. A leaf: imports nothing of sabot_lab but
``errors``.

>>> import numpy as np
>>> fns = AggregateFunctions("total", (0.0,), lambda s, x: s + x, lambda a, b: a + b, lambda s: s)
>>> loops = compiled_loops(fns, (np.dtype("float64"),))
>>> ids, valid = np.array([0, 1, 0]), np.array([True, True, True])
>>> rows, states = loops.accumulate(ids, 2, valid, [np.array([1.0, 2.0, 3.0])])
>>> rows.tolist(), states[0].tolist()
([2, 1], [4.0, 2.0])
>>> values, present = loops.finalize(rows, states, np.dtype("float64"))
>>> values.tolist(), present.tolist()
([4.0, 2.0], [True, True])
"""

from __future__ import annotations

import functools
import linecache
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from sabot_lab.errors import PlanError, SchemaError

__all__ = ["AggregateFunctions", "GroupedLoops", "compiled_loops", "result_fits", "state_dtype"]

_METHODS = ("accumulate", "merge", "finalize")


@dataclass(frozen=True)
class AggregateFunctions:
    """A user aggregate's functions: ``init`` is the empty state's values (a tuple, one per
    state element; ``tuple_state`` False: the user's functions see the one element itself),
    ``accumulate(state, *values) -> state``, ``merge(state, state) -> state`` and
    ``finalize(state) -> value``; ``compile``: compile them with numba (else plain Python)."""

    name: str
    init: tuple[Any, ...]
    accumulate: Callable[..., Any]
    merge: Callable[..., Any]
    finalize: Callable[..., Any]
    tuple_state: bool = False
    compile: bool = True

    @property
    def state_dtypes(self) -> list[np.dtype]:
        """The numpy type of each state element, from its initial value.

        >>> AggregateFunctions("f", (0.0, 0, False), abs, abs, abs, True).state_dtypes
        [dtype('float64'), dtype('int64'), dtype('bool')]
        """
        return [state_dtype(v) for v in self.init]


def state_dtype(value: Any) -> np.dtype:
    """The numpy type a state element starting at ``value`` is kept in.

    >>> state_dtype(1.5), state_dtype(True)
    (dtype('float64'), dtype('bool'))
    >>> state_dtype("a")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SchemaError: a user aggregate's state holds numbers and booleans, got 'a' (str); start it as e.g. 0.0, 0 or False
    """
    if isinstance(value, bool | np.bool_):
        return np.dtype(np.bool_)
    if isinstance(value, int | float | np.number):
        return np.asarray(value).dtype if isinstance(value, np.number) else np.dtype(type(value))
    raise SchemaError(
        f"a user aggregate's state holds numbers and booleans, got {value!r} "
        f"({type(value).__name__}); start it as e.g. 0.0, 0 or False"
    )


@dataclass(frozen=True)
class GroupedLoops:
    """The three loops of one user aggregate over inputs of fixed types; ``result_type``:
    the numba type ``finalize`` returns (None when the functions run as plain Python)."""

    functions: AggregateFunctions
    _accumulate: Callable[..., None]
    _merge: Callable[..., None]
    _finalize: Callable[..., None]
    result_type: Any = None

    def _empty_states(self, count: int) -> list[np.ndarray]:
        dtypes = self.functions.state_dtypes
        if not self.functions.compile:  # Python values: converted (and checked) by Arrow later
            dtypes = [np.dtype(object)] * len(dtypes)
        return [
            np.full(count, v, dtype=d) for v, d in zip(self.functions.init, dtypes, strict=True)
        ]

    def accumulate(
        self, ids: np.ndarray, count: int, valid: np.ndarray, inputs: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Rows accumulated and states of ``count`` groups from the rows with ``valid`` inputs
        (``ids``: each row's group)."""
        rows = np.zeros(count, dtype=np.int64)
        states = self._empty_states(count)
        self._accumulate(ids, valid, rows, *states, *inputs)
        return rows, states

    def merge(
        self, ids: np.ndarray, count: int, rows: np.ndarray, states: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Partial states (one per row, ``ids``: their groups) merged into ``count`` groups."""
        merged_rows = np.zeros(count, dtype=np.int64)
        merged = self._empty_states(count)
        self._merge(ids, merged_rows, *merged, rows, *states)
        return merged_rows, merged

    def finalize(
        self, rows: np.ndarray, states: Sequence[np.ndarray], dtype: np.dtype
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each group's value (as ``dtype``) and whether it has one (rows accumulated and a
        result other than None)."""
        out = np.zeros(len(rows), dtype=dtype if self.functions.compile else object)
        present = np.zeros(len(rows), dtype=np.bool_)
        self._finalize(rows, out, present, *states)
        return out, present


def _loop_sources(width: int, arity: int, tuple_state: bool) -> str:
    """Python source of the three loops for a state of ``width`` elements and ``arity`` inputs."""
    s = [f"s{j}" for j in range(width)]
    p = [f"p{j}" for j in range(width)]
    x = [f"x{j}" for j in range(arity)]

    def state(names: Sequence[str], at: str) -> str:
        items = [f"{n}[{at}]" for n in names]
        return f"({', '.join(items)},)" if tuple_state else items[0]

    target = ", ".join(f"{n}[g]" for n in s) + ("," if width == 1 and tuple_state else "")
    values = ", ".join(f"{n}[i]" for n in x)
    return f"""
def accumulate_groups(ids, valid, rows, {", ".join(s)}, {", ".join(x)}):
    for i in range(ids.shape[0]):
        if valid[i]:
            g = ids[i]
            {target} = accumulate({state(s, "g")}, {values})
            rows[g] += 1


def merge_groups(ids, rows, {", ".join(s)}, prows, {", ".join(p)}):
    for i in range(ids.shape[0]):
        if prows[i] > 0:
            g = ids[i]
            if rows[g] > 0:
                {target} = merge({state(s, "g")}, {state(p, "i")})
            else:
                {target} = {state(p, "i")}
            rows[g] += prows[i]


def finalize_groups(rows, out, present, {", ".join(s)}):
    for g in range(rows.shape[0]):
        if rows[g] > 0:
            value = finalize({state(s, "g")})
            if value is not None:
                out[g] = value
                present[g] = True
"""


def compiled_loops(functions: AggregateFunctions, input_dtypes: Sequence[np.dtype]) -> GroupedLoops:
    """The loops of ``functions`` for inputs of ``input_dtypes`` (compiled once per process
    and types). A function numba cannot compile, or a state element whose type the function
    changes (an integer state given floats), is a :class:`~sabot_lab.errors.PlanError`
    naming the function and the line.

    >>> fns = AggregateFunctions("sum_sq", (0.0,), lambda s, x: s + x * x, lambda a, b: a + b, lambda s: s)
    >>> loops = compiled_loops(fns, (np.dtype("float64"),))
    >>> rows, (sums,) = loops.accumulate(np.array([0, 0]), 1, np.array([True, True]), [np.array([1.0, 2.0])])
    >>> sums.tolist()
    [5.0]
    """
    return _compiled(functions, tuple(np.dtype(d) for d in input_dtypes))


@functools.lru_cache(maxsize=256)
def _compiled(functions: AggregateFunctions, input_dtypes: tuple[np.dtype, ...]) -> GroupedLoops:
    width = len(functions.init)
    source = _loop_sources(width, len(input_dtypes), functions.tuple_state)
    names: dict[str, Any] = {
        "accumulate": functions.accumulate,
        "merge": functions.merge,
        "finalize": functions.finalize,
    }
    result_type = None
    if functions.compile:
        names = {m: _jit(functions, m, names[m]) for m in _METHODS}
        result_type = _check_state_types(functions, names, input_dtypes)
    exec(compile(source, f"<user aggregate {functions.name}>", "exec"), names)
    accumulate, merge, finalize = (names[f"{m}_groups"] for m in _METHODS)
    if functions.compile:
        import numba

        jit = numba.njit(nogil=True)
        accumulate, merge, finalize = jit(accumulate), jit(merge), jit(finalize)
    return GroupedLoops(functions, accumulate, merge, finalize, result_type)


def _jit(functions: AggregateFunctions, method: str, fn: Callable[..., Any]) -> Any:
    import numba

    try:
        return numba.njit(fn)
    except Exception as exc:  # numba refuses the function itself (e.g. a generator)
        raise _compile_error(functions, method, fn, exc) from None


def _state_type(functions: AggregateFunctions) -> Any:
    from numba import types
    from numba.np.numpy_support import from_dtype

    elements = [from_dtype(d) for d in functions.state_dtypes]
    return types.Tuple(elements) if functions.tuple_state else elements[0]


def _compiled_type(
    functions: AggregateFunctions, method: str, jitted: Any, args: tuple[Any, ...]
) -> Any:
    """The result type of ``method`` compiled for ``args`` (numba types)."""
    try:
        jitted.compile(args)
    except Exception as exc:
        raise _compile_error(functions, method, jitted.py_func, exc) from None
    return jitted.overloads[args].signature.return_type


def _check_state_types(
    functions: AggregateFunctions, jitted: dict[str, Any], input_dtypes: tuple[np.dtype, ...]
) -> Any:
    """Compile the three functions for their state and input types; the state returned by
    ``accumulate`` and ``merge`` must keep each element's type (or one converting to it
    without loss). Returns the type ``finalize`` returns."""
    from numba.np.numpy_support import from_dtype

    state = _state_type(functions)
    inputs = tuple(from_dtype(d) for d in input_dtypes)
    for method, args in (("accumulate", (state, *inputs)), ("merge", (state, state))):
        returned = _compiled_type(functions, method, jitted[method], args)
        _require_state(functions, method, state, returned)
    return _compiled_type(functions, "finalize", jitted["finalize"], (state,))


def _require_state(functions: AggregateFunctions, method: str, state: Any, returned: Any) -> None:
    from numba import types

    expected = list(cast(Any, state).types) if functions.tuple_state else [state]
    got = list(cast(Any, returned).types) if isinstance(returned, types.BaseTuple) else [returned]
    shape = "a tuple of " if functions.tuple_state else ""
    if functions.tuple_state != isinstance(returned, types.BaseTuple) or len(got) != len(expected):
        raise SchemaError(
            f"user aggregate {functions.name}: {method} returns {returned}, but its state is "
            f"{shape}{state} (what init returns); return the state in the same shape"
        )
    for j, (want, have) in enumerate(zip(expected, got, strict=True)):
        if not _converts(have, want):
            where = f"element {j} of the state" if functions.tuple_state else "the state"
            raise SchemaError(
                f"user aggregate {functions.name}: {method} makes {where} a {have}, but init "
                f"starts it as {want}; start it as a {have} (e.g. 0.0 instead of 0) so no "
                "value is truncated"
            )


def _converts(have: Any, want: Any) -> bool:
    """Whether a value of numba type ``have`` is stored in ``want`` without loss."""
    from numba import types

    if have == want or (isinstance(have, types.Literal) and _converts(have.literal_type, want)):
        return True
    if isinstance(want, types.Float):
        return isinstance(have, types.Integer | types.Float | types.Boolean)
    if isinstance(want, types.Integer):
        return isinstance(have, types.Integer | types.Boolean)
    return isinstance(want, types.Boolean) and isinstance(have, types.Boolean)


def result_fits(result_type: Any, dtype: np.dtype) -> bool:
    """Whether values of the numba type ``result_type`` (what ``finalize`` returns; an
    optional one may be None, giving null) are stored as ``dtype`` without loss.

    >>> from numba import types
    >>> result_fits(types.float64, np.dtype("int64")), result_fits(types.int64, np.dtype("float64"))
    (False, True)
    """
    from numba import types

    if isinstance(result_type, types.Optional):
        result_type = result_type.type
    if isinstance(result_type, types.Literal):
        result_type = result_type.literal_type
    if isinstance(result_type, types.NoneType):
        return True
    kinds = {types.Boolean: "b", types.Integer: "iuf", types.Float: "f"}
    return any(
        isinstance(result_type, kind) and np.dtype(dtype).kind in allowed
        for kind, allowed in kinds.items()
    )


def _compile_error(
    functions: AggregateFunctions, method: str, fn: Callable[..., Any], exc: Exception
) -> PlanError:
    """A compile failure named by function, line and construct, offering ``compile=False``."""
    text = str(exc)
    places = re.findall(r'File "([^"]+)", line (\d+)', text)
    where = ""
    if places:
        filename, line = places[-1]
        code = linecache.getline(filename, int(line)).strip()
        where = f" at line {line} of {filename}" + (f": `{code}`" if code else "")
    problem = next(
        (
            ln.strip()
            for ln in text.splitlines()
            if ln.strip().startswith(">>>") or "Unknown attribute" in ln or "Untyped" in ln
        ),
        text.splitlines()[1].strip() if len(text.splitlines()) > 1 else text.strip(),
    )
    return PlanError(
        f"user aggregate {functions.name}: numba cannot compile {method}"
        f"{where} ({problem.lstrip('> ')}). Use numbers, booleans, tuples and math "
        "functions there, or pass compile=False to @sl.udaf to run it as plain Python "
        "(much slower)"
    )
