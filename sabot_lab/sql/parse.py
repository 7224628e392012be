"""Parse SQL text into a syntax tree with ``sqlglot``: DuckDB's dialect plus the window table
functions of Flink SQL (``TUMBLE``, ``HOP``, ``SESSION`` with ``TABLE t`` and
``DESCRIPTOR(col)`` arguments). Syntax errors become :class:`~sabot_lab.errors.SQLError` with
the line and column of the fault.

>>> tree = parse("SELECT auction, COUNT(*) FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(t), INTERVAL '10' SECONDS)) GROUP BY 1")
>>> tree.find(WindowFunction).kind
'TUMBLE'
>>> parse("SELECT price FROM quotes WHERE")
Traceback (most recent call last):
...
sabot_lab.errors.SQLError: line 1, column 26: incomplete WHERE: something is missing here
  SELECT price FROM quotes WHERE
                           ^
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

import sqlglot
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import ParseError, TokenError
from sqlglot.parsers.duckdb import DuckDBParser
from sqlglot.tokens import TokenType

from sabot_lab.errors import SQLError

__all__ = ["WINDOW_FUNCTIONS", "SabotDialect", "WindowFunction", "parse", "position"]

WINDOW_FUNCTIONS = ("TUMBLE", "HOP", "SESSION")
"""The window table functions the parser reads (Flink SQL's names)."""


class WindowFunction(exp.Expression):
    """A window table function call: ``kind`` (``TUMBLE``, ``HOP``, ``SESSION``), the table it
    reads (``TABLE t``), the ``PARTITION BY`` columns of a session, and its other arguments
    (``DESCRIPTOR(col)`` and intervals) with the names given as ``NAME => value``.

    >>> call = parse("SELECT * FROM TABLE(HOP(TABLE b, DESCRIPTOR(t), INTERVAL '2' SECOND, INTERVAL '6' SECOND))").find(WindowFunction)
    >>> call.kind, call.args["table"].name, len(call.args["params"])
    ('HOP', 'b', 3)
    """

    arg_types: ClassVar[dict[str, bool]] = {
        "this": True,
        "table": True,
        "partition": False,
        "params": False,
        "names": False,
    }

    @property
    def kind(self) -> str:
        """The function's name, upper case."""
        return str(self.this)


def _parse_window_function(kind: str) -> Any:
    def parse_arguments(parser: Any) -> exp.Expr:
        table, partition, params, names = None, [], [], []
        start = parser._prev
        while True:
            name = None
            if parser._next and parser._next.token_type == TokenType.FARROW:
                name = parser._curr.text.upper()
                parser._advance(2)
            if parser._match(TokenType.TABLE):
                table = parser._parse_table_parts()
                if parser._match(TokenType.PARTITION_BY):  # one column, or several in parentheses
                    if parser._match(TokenType.L_PAREN):
                        partition = parser._parse_csv(parser._parse_column)
                        parser._match_r_paren()
                    else:
                        partition = [parser._parse_column()]
            else:
                params.append(parser._parse_assignment())
                names.append(name)
            if not parser._match(TokenType.COMMA):
                break
        if table is None:
            parser.raise_error(f"{kind} needs its input as TABLE <name>", start)
        call = WindowFunction(
            this=kind, table=table, partition=partition, params=params, names=names
        )
        return call.update_positions(start)

    return parse_arguments


class SabotDialect(DuckDB):
    """DuckDB's SQL dialect with Flink SQL's window table functions."""

    class Parser(DuckDBParser):
        FUNCTION_PARSERS: ClassVar[dict[str, Callable[..., exp.Expr]]] = {
            **DuckDBParser.FUNCTION_PARSERS,
            **{kind: _parse_window_function(kind) for kind in WINDOW_FUNCTIONS},
        }
        FUNC_TOKENS: ClassVar[set[TokenType]] = {*DuckDBParser.FUNC_TOKENS, TokenType.SESSION}


_MISSING = re.compile(r"Missing .* from (\d+):(\d+)")
_INCOMPLETE = re.compile(r"Required keyword: '\w+' missing for <class '[\w.]*\.(\w+)'>")


def position(text: str, offset: int) -> tuple[int, int]:
    """The 1-based line and column of the character at ``offset`` in ``text``.

    >>> position("SELECT a\\nFROM t", 9)
    (2, 1)
    """
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def parse(query: str) -> exp.Expr:
    """Parse one SQL statement; a :class:`~sabot_lab.errors.SQLError` at the fault if it is not
    valid SQL.

    >>> parse("SELECT 1 FROM t; SELECT 2 FROM t")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SQLError: sl.sql() runs one statement; this text has 2
    """
    try:
        statements = sqlglot.parse(query, read=SabotDialect)
    except ParseError as err:
        detail = err.errors[0] if err.errors else {}
        line, col = detail.get("line"), detail.get("col")
        if line is not None and col is not None:  # sqlglot points at the token's last character
            col = max(1, col - len(detail.get("highlight") or " ") + 1)
        message = detail.get("description") or str(err)
        incomplete = _INCOMPLETE.fullmatch(message)
        if incomplete:
            node = getattr(exp, incomplete.group(1), None)
            what = (
                "expression"
                if node is None or issubclass(node, exp.Binary | exp.Func)
                else incomplete.group(1).upper()
            )
            message = f"incomplete {what}: something is missing here"
        raise SQLError(message, line, col, query) from None
    except TokenError as err:
        found = _MISSING.search(str(err.__cause__ or err))
        line = col = None
        if found:
            line, col = position(query, int(found.group(2)))
        raise SQLError(
            f"cannot read the SQL text: {err.__cause__ or err}", line, col, query
        ) from None
    present = [s for s in statements if s is not None]
    if len(present) != 1:
        raise SQLError(f"sl.sql() runs one statement; this text has {len(present)}")
    return present[0]
