"""Where the user functions of a submitted job were written, so that a failure on an agent
names the user's file and line. Functions travel to the agents pickled by value, which keeps
their names and line numbers but not their files (their frames read ``File
"<dynamic-code>"``); the client still holds the functions and puts the files back.

May import: the standard library.
"""

from __future__ import annotations

import dataclasses
import functools
import linecache
import re
import types
from collections.abc import Iterable
from typing import Any

__all__ = ["code_files", "located"]

_DYNAMIC_FRAME = re.compile(r'^(\s*)File "<dynamic-code>", line (\d+), in (\S+)$', re.MULTILINE)


def code_files(values: Iterable[Any]) -> dict[str, str]:
    """The file each function among ``values`` was written in, by function name (inner
    functions included), looking into containers, dataclasses (a plan's operators) and
    ``functools.partial``; a name written in two files is left out (ambiguous).

    >>> def price_of(row):
    ...     return row["price"]
    >>> code_files([{"fn": price_of}])["price_of"].startswith("<doctest")
    True
    """
    found: dict[str, set[str]] = {}
    seen: set[int] = set()

    def code(obj: types.CodeType) -> None:
        found.setdefault(obj.co_name, set()).add(obj.co_filename)
        for const in obj.co_consts:
            if isinstance(const, types.CodeType):
                code(const)

    def visit(value: Any, depth: int) -> None:
        if depth > 8 or id(value) in seen:
            return
        seen.add(id(value))
        if isinstance(value, types.FunctionType):
            code(value.__code__)
        elif isinstance(value, functools.partial):
            visit(value.func, depth + 1)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item, depth + 1)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                visit(item, depth + 1)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for field in dataclasses.fields(value):
                visit(getattr(value, field.name, None), depth + 1)

    for value in values:
        visit(value, 0)
    return {name: files.pop() for name, files in found.items() if len(files) == 1}


def located(text: str, files: dict[str, str]) -> str:
    """``text`` (a traceback) with each ``File "<dynamic-code>"`` frame of a function in
    ``files`` naming its file, and the line's source below it when it can be read.

    >>> located('  File "<dynamic-code>", line 2, in price_of', {"price_of": "/home/q/etl.py"})
    '  File "/home/q/etl.py", line 2, in price_of'
    """

    def frame(match: re.Match[str]) -> str:
        indent, line, name = match[1], int(match[2]), match[3]
        path = files.get(name)
        if path is None:
            return match[0]
        source = linecache.getline(path, line).strip()
        shown = f'{indent}File "{path}", line {line}, in {name}'
        return shown + (f"\n{indent}  {source}" if source else "")

    return _DYNAMIC_FRAME.sub(frame, text)
