"""Flink SQL's definitions in a script: ``CREATE [TEMPORARY] TABLE [IF NOT EXISTS] name
(columns..., WATERMARK FOR ...) [PARTITIONED BY (...)] WITH (...)`` (a connector table, see
:mod:`sabot_lab.sql.connector_tables`), ``DROP TABLE [IF EXISTS] name`` (of such a table), and
``CREATE [TEMPORARY] FUNCTION [IF NOT EXISTS] name AS 'module.function' [LANGUAGE PYTHON]``,
which imports a Python function made with ``@sl.udf`` (or ``@sl.udaf``) and calls it ``name``
in the catalog's scripts. A Java class (``LANGUAGE JAVA``, or a name that imports as no
Python module, such as ``'com.example.udf.CountChar'``) is refused: sabot-lab runs Python.

May import: the rest of :mod:`sabot_lab.sql`, ``sqlglot``, the user-function types.

>>> import sabot_lab as sl
>>> from sabot_lab.sql.catalog import Catalog
>>> from sabot_lab.sql.parse import parse
>>> catalog, text = Catalog(), "CREATE FUNCTION count_char AS 'com.github.nexmark.flink.udf.CountChar'"
>>> create_function(parse(text), catalog, Context(text, {}))
Traceback (most recent call last):
...
sabot_lab.errors.SQLError: line 1, column 17: CREATE FUNCTION count_char: 'com.github.nexmark.flink.udf.CountChar' is not a Python module's function (a Java class?); sabot-lab runs Python functions: write it with @sl.udf(return_dtype=...) in a module and CREATE FUNCTION count_char AS 'module.function'
  CREATE FUNCTION count_char AS 'com.github.nexmark.flink.udf.CountChar'
                  ^
"""

from __future__ import annotations

import importlib

from sqlglot import exp

from sabot_lab.errors import PlanError
from sabot_lab.sql.catalog import Catalog
from sabot_lab.sql.connector_tables import connector_table
from sabot_lab.sql.context import Context
from sabot_lab.sql.functions import check_function, find_function
from sabot_lab.sql.table_ddl import table_definition
from sabot_lab.udaf import UserAggregateFunction
from sabot_lab.udf import UDF

__all__ = ["create_function", "create_table", "drop_table"]

_TABLE_FLAGS = {"this", "kind", "exists", "properties"}
_FUNCTION_FLAGS = {"this", "kind", "exists", "expression", "properties"}


def _check_flags(node: exp.Expr, allowed: set[str], what: str, ctx: Context) -> None:
    for key, value in node.args.items():
        if value and key not in allowed:
            raise ctx.unsupported(f"{key.upper().replace('_', ' ')} in {what}", node)


def create_table(node: exp.Create, catalog: Catalog, ctx: Context) -> None:
    """Add the connector table ``node`` defines to ``catalog`` (``IF NOT EXISTS`` keeps a
    table of that name); an error if the name is taken."""
    _check_flags(node, _TABLE_FLAGS, "CREATE TABLE", ctx)
    definition = table_definition(node, ctx)
    existing = catalog.find(definition.name)
    if existing is not None:
        if node.args.get("exists"):
            return
        raise ctx.error(
            f"a table or view named '{existing}' exists: choose another name, or DROP TABLE "
            f"{existing} first",
            node.this,
        )
    catalog.connectors[definition.name] = connector_table(definition, ctx)


def drop_table(node: exp.Drop, catalog: Catalog, ctx: Context) -> None:
    """Remove the connector tables ``DROP TABLE`` names (tables given as Python objects stay:
    they are the caller's)."""
    _check_flags(node, {"tables", "kind", "exists"}, "DROP TABLE", ctx)
    for table in node.args.get("tables") or []:
        found = catalog.find(table.name)
        if found is None and node.args.get("exists"):
            continue
        if found is None or found not in catalog.connectors:
            listing = ", ".join(sorted(catalog.connectors)) or "(none)"
            raise ctx.error(
                f"there is no table '{table.name}' made by CREATE TABLE; such tables: {listing}",
                table,
            )
        del catalog.connectors[found]


def create_function(node: exp.Create, catalog: Catalog, ctx: Context) -> None:
    """Import the Python function ``node`` names and make it callable by its SQL name."""
    _check_flags(node, _FUNCTION_FLAGS, "CREATE FUNCTION", ctx)
    target = node.this
    name = target.name
    if not isinstance(target, exp.Table) or target.args.get("db") or target.args.get("catalog"):
        raise ctx.unsupported(f"the function name {target.sql()!r}", node)
    path = node.expression
    if not (isinstance(path, exp.Literal) and path.is_string):
        raise ctx.error(
            f"CREATE FUNCTION {name} AS 'module.function': the function's place, as text", node
        )
    language = "PYTHON"
    properties = node.args.get("properties")
    for prop in properties.expressions if properties is not None else []:
        if isinstance(prop, exp.LanguageProperty):
            language = prop.this.name.upper()
        elif not isinstance(prop, exp.TemporaryProperty):
            raise ctx.unsupported(f"{prop.sql()} in CREATE FUNCTION", prop)
    if find_function(name, catalog.functions) is not None:
        if node.args.get("exists"):
            return
        raise ctx.error(f"function '{name}' exists already: choose another name", target)
    java = (
        f"CREATE FUNCTION {name}: '{path.this}' is not a Python module's function (a Java "
        "class?); sabot-lab runs Python functions: write it with @sl.udf(return_dtype=...) in a "
        f"module and CREATE FUNCTION {name} AS 'module.function'"
    )
    if language != "PYTHON":
        raise ctx.error(java.replace("(a Java class?)", f"(LANGUAGE {language})"), node)
    function = _imported(str(path.this), java, node, ctx)
    if not isinstance(function, UDF | UserAggregateFunction):
        raise ctx.error(
            f"CREATE FUNCTION {name}: '{path.this}' is a {type(function).__name__}, not a "
            "function made with @sl.udf(return_dtype=...) or @sl.udaf(...); decorate it so "
            "that SQL knows its result type",
            node,
        )
    try:
        check_function(name, function)
    except PlanError as err:
        raise ctx.error(str(err), target) from None
    catalog.functions[name] = function


def _imported(path: str, java: str, node: exp.Expr, ctx: Context) -> object:
    """The object ``module.attribute`` names; ``java`` (the message) when no Python module
    holds it."""
    module_name, _, attribute = path.rpartition(".")
    if not module_name:
        raise ctx.error(f"'{path}' names no module: write 'module.function'", node)
    class_name = attribute[:1].isupper()  # Java's classes are capitalised, Python's functions not
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        if class_name and err.name is not None and module_name.startswith(err.name):
            raise ctx.error(java, node) from None
        raise ctx.error(f"cannot import module '{module_name}': {err}", node) from None
    if not hasattr(module, attribute):
        raise ctx.error(f"module '{module_name}' has no function '{attribute}'", node)
    return getattr(module, attribute)
