"""User functions SQL can call by name: the process-wide registry (``sl.register_function``)
and the lookup that also sees a call's own (``sl.sql(..., functions={...})``) or a
``SQLContext``'s. A function is anything that, called with expressions, returns an
expression (an ``@sl.udf``); names match ignoring case, as SQL's do. ``%%sabot`` cells and
every ``sl.sql`` call see the registered functions.

May import: the errors; not ``sqlglot`` (registering happens before the first query loads the
SQL front end) except inside :func:`register_function`'s name check.

>>> import pyarrow as pa, sabot_lab as sl
>>> @sl.udf(return_dtype=pa.int64())
... def plus_one(x):
...     return x + 1
>>> sl.register_function("plus_one", plus_one)
>>> sl.sql("SELECT PLUS_ONE(x) AS y FROM t", t=pa.table({"x": [1, None]})).collect().to_pydict()
{'y': [2, None]}
>>> unregister_function("plus_one")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sabot_lab.errors import PlanError

__all__ = [
    "find_function",
    "register_function",
    "registered_functions",
    "unregister_function",
]

_REGISTERED: dict[str, Any] = {}
"""The functions every SQL query of this process can call, by name."""


def register_function(name: str, fn: Any) -> None:
    """Make ``fn`` (an ``@sl.udf``) callable as ``name`` in every SQL query of this process.

    A name SQL already gives a meaning (``sqrt``, ``log``...) is refused: the query would
    call the built-in.

    >>> import sabot_lab as sl
    >>> sl.register_function("sqrt", sl.udf(lambda x: x, return_dtype="float64"))
    Traceback (most recent call last):
    ...
    sabot_lab.errors.PlanError: cannot register a function as 'sqrt': SQL already has a function of that name (Sqrt); choose another name
    """
    check_function(name, fn)
    _REGISTERED[name] = fn


def unregister_function(name: str) -> None:
    """Forget the registered function ``name`` (nothing if there is none).

    >>> unregister_function("nothing_of_that_name")
    """
    found = _find(name, _REGISTERED)
    if found is not None:
        del _REGISTERED[found]


def registered_functions() -> list[str]:
    """The names of the registered functions, sorted.

    >>> "no_such_function" in registered_functions()
    False
    """
    return sorted(_REGISTERED)


def find_function(name: str, local: Mapping[str, Any]) -> Any | None:
    """The function SQL means by ``name``: one of ``local`` (a call's own), else a registered
    one; None if neither has it.

    >>> find_function("F", {"f": len}) is len, find_function("g", {})
    (True, None)
    """
    for table in (local, _REGISTERED):
        found = _find(name, table)
        if found is not None:
            return table[found]
    return None


def check_function(name: str, fn: Any) -> None:
    """Refuse a name SQL already uses for a built-in, or a value that is not a function.

    >>> check_function("hyp", 3)
    Traceback (most recent call last):
    ...
    sabot_lab.errors.PlanError: cannot register 3 as SQL function 'hyp': pass a function made with @sl.udf
    """
    if not callable(fn):
        raise PlanError(
            f"cannot register {fn!r} as SQL function {name!r}: pass a function made with @sl.udf"
        )
    if not name.isidentifier():
        raise PlanError(
            f"cannot register a function as {name!r}: a SQL function name is an identifier"
        )
    from sqlglot import exp

    from sabot_lab.sql.parse import parse  # the SQL front end, on first use

    call = parse(f"SELECT {name}(x)").expressions[0]
    if not isinstance(call, exp.Anonymous):
        raise PlanError(
            f"cannot register a function as {name!r}: SQL already has a function of that name "
            f"({type(call).__name__}); choose another name"
        )


def _find(name: str, table: Mapping[str, Any]) -> str | None:
    if name in table:
        return name
    folded = [n for n in table if n.lower() == name.lower()]
    return folded[0] if len(folded) == 1 else None
