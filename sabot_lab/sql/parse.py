"""Parse SQL text (one statement, or a script of several) into syntax trees with ``sqlglot``:
DuckDB's dialect plus the window table functions of Flink SQL (``TUMBLE``, ``HOP``, ``SESSION``,
``CUMULATE`` with ``TABLE t`` and ``DESCRIPTOR(col)`` arguments). Each function call keeps its text and
name as the user wrote them (:func:`written`, :func:`written_name`), for messages that quote
the user rather than the parser's names. Syntax errors become
:class:`~sabot_lab.errors.SQLError` with the line and column of the fault.

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

__all__ = [
    "WINDOW_FUNCTIONS",
    "GroupWindow",
    "SabotDialect",
    "WindowFunction",
    "parse",
    "parse_script",
    "position",
    "written",
    "written_name",
]

WINDOW_FUNCTIONS = ("TUMBLE", "HOP", "SESSION", "CUMULATE")
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


class GroupWindow(exp.Expression):
    """A group window of Flink SQL, ``TUMBLE(time, size)``, ``HOP(time, slide, size)`` or
    ``SESSION(time, gap)`` in a ``GROUP BY`` (see :mod:`sabot_lab.sql.group_windows`).

    >>> parse("SELECT COUNT(*) FROM b GROUP BY TUMBLE(t, INTERVAL '1' MINUTE)").find(GroupWindow).kind
    'TUMBLE'
    """

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "params": False}

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
        if table is None:  # Flink's group window, GROUP BY TUMBLE(time, size)
            if partition or any(names):
                parser.raise_error(f"{kind} needs its input as TABLE <name>", start)
            return GroupWindow(this=kind, params=params).update_positions(start)
        call = WindowFunction(
            this=kind, table=table, partition=partition, params=params, names=names
        )
        return call.update_positions(start)

    return parse_arguments


_WRITTEN, _WRITTEN_NAME = "sabot_written", "sabot_written_name"
"""Where a function call's node keeps its text and its name as the user wrote them."""


def _closing_paren(tokens: list[Any], opening: int) -> int:
    """The index of the token closing the parenthesis at ``opening`` (the last token if none)."""
    depth = 0
    for index in range(opening, len(tokens)):
        kind = tokens[index].token_type
        depth += (kind == TokenType.L_PAREN) - (kind == TokenType.R_PAREN)
        if depth == 0:
            return index
    return len(tokens) - 1


def _parse_watermark(parser: Any) -> exp.Expr | None:
    """``WATERMARK FOR column AS expression`` in a ``CREATE TABLE``'s column list (Flink SQL);
    None for a column named ``watermark``."""
    if not parser._match(TokenType.FOR):
        return None
    column = parser._parse_column()
    bound = parser._match(TokenType.ALIAS) and parser._parse_disjunction()
    if not column or not bound:
        parser.raise_error("write WATERMARK FOR column AS column - INTERVAL 'n' SECOND")
    return exp.WatermarkColumnConstraint(this=column, expression=bound)


class SabotDialect(DuckDB):
    """DuckDB's SQL dialect with what Flink SQL adds: its window table functions and group
    windows, ``WATERMARK FOR`` in ``CREATE TABLE``, and identifiers quoted with backticks as
    well as double quotes; each function call keeps its text as written (see :func:`written`)."""

    class Tokenizer(DuckDB.Tokenizer):
        IDENTIFIERS: ClassVar[list[str | tuple[str, str]]] = [*DuckDB.Tokenizer.IDENTIFIERS, "`"]

    class Parser(DuckDBParser):
        FUNCTION_PARSERS: ClassVar[dict[str, Callable[..., exp.Expr]]] = {
            **DuckDBParser.FUNCTION_PARSERS,
            **{kind: _parse_window_function(kind) for kind in WINDOW_FUNCTIONS},
        }
        FUNC_TOKENS: ClassVar[set[TokenType]] = {*DuckDBParser.FUNC_TOKENS, TokenType.SESSION}
        CONSTRAINT_PARSERS: ClassVar[dict[str, Callable[..., exp.Expr | None]]] = {
            **DuckDBParser.CONSTRAINT_PARSERS,
            "WATERMARK": _parse_watermark,
        }
        SCHEMA_UNNAMED_CONSTRAINTS: ClassVar[set[str]] = {
            *DuckDBParser.SCHEMA_UNNAMED_CONSTRAINTS,
            "WATERMARK",
        }

        def _parse_function_call(self, *args: Any, **kwargs: Any) -> exp.Expr | None:
            first = self._index
            result = super()._parse_function_call(*args, **kwargs)
            call = result
            while call is not None and not isinstance(call, exp.Func):  # OVER, FILTER...
                call = call.this if isinstance(call.this, exp.Expr) else None
            if call is None or first >= len(self._tokens):
                return result
            tokens, name = self._tokens, self._tokens[first]
            last = first
            if first + 1 < len(tokens) and tokens[first + 1].token_type == TokenType.L_PAREN:
                last = _closing_paren(tokens, first + 1)
            call.meta[_WRITTEN] = self.sql[name.start : tokens[last].end + 1]
            call.meta[_WRITTEN_NAME] = self.sql[name.start : name.end + 1]
            if "start" not in call.meta:  # calls with their own syntax: SUBSTRING(s FROM 2)...
                call.update_positions(name)
            return result


def written(node: exp.Expr) -> str | None:
    """A function call's text as the user wrote it (None for other nodes).

    >>> written(parse("SELECT strftime(t, '%Y') FROM x").expressions[0])
    "strftime(t, '%Y')"
    """
    text = node.meta.get(_WRITTEN)
    return None if text is None else str(text)


def written_name(node: exp.Expr) -> str | None:
    """A function call's name as the user wrote it, where sqlglot may call it otherwise
    (``strftime`` is its ``TimeToStr``); None for other nodes.

    >>> call = parse("SELECT date_diff('day', a, b) FROM x").expressions[0]
    >>> type(call).__name__, written_name(call)
    ('DateDiff', 'date_diff')
    """
    name = node.meta.get(_WRITTEN_NAME)
    return None if name is None else str(name)


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
    sabot_lab.errors.SQLError: expected one statement; this text has 2
    """
    statements = parse_script(query)
    if len(statements) != 1:
        raise SQLError(f"expected one statement; this text has {len(statements)}")
    return statements[0]


def parse_script(script: str) -> list[exp.Expr]:
    """Parse SQL statements separated by semicolons; a :class:`~sabot_lab.errors.SQLError` at
    the fault (its line and column in the whole script) if they are not valid SQL.

    >>> [s.key for s in parse_script("CREATE VIEW v AS SELECT 1 FROM t;\\nSELECT * FROM v;")]
    ['create', 'select']
    >>> parse_script("SELECT 1 FROM t;\\nSELECT price FROM quotes WHERE")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SQLError: line 2, column 26: incomplete WHERE: something is missing here
      SELECT price FROM quotes WHERE
                               ^
    """
    parsed = _PARSED.get(script)
    if parsed is None:
        parsed = _parsed(script)
        if len(_PARSED) >= PARSED_KEPT:
            _PARSED.clear()
        _PARSED[script] = parsed
    return [statement.copy() for statement in parsed]


PARSED_KEPT = 256
"""How many scripts' trees :func:`parse_script` keeps by their text."""
_PARSED: dict[str, tuple[exp.Expr, ...]] = {}
"""The trees of the scripts parsed last, by their text: a script run again (a notebook cell,
a benchmark's runs, a view's definition read by each query) is parsed once, and each run gets
copies (copying a tree takes a quarter of the time parsing its text does), which its
planning may change."""


def _parsed(script: str) -> tuple[exp.Expr, ...]:
    """:func:`parse_script` of ``script``, parsed now."""
    query = script
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
    return tuple(s for s in statements if s is not None)
