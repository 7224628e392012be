"""One SQL expression as a sabot-lab expression, over the columns of a schema: what the
parameters of a hand-built plan may give instead of an expression (``"price > 100"``,
``"SUM(price * qty) AS total"``). Registered with :mod:`sabot_lab.logical.parameters` when
this package is imported; ``sqlglot`` loads on the first use.

May import: what :mod:`sabot_lab.sql` builds on.

>>> import pyarrow as pa
>>> rows = pa.schema([("price", pa.float64()), ("qty", pa.int64())])
>>> expression_from_sql("price > 100 AND qty IS NOT NULL", rows)
((col("price") > 100) & col("qty").is_not_null())
>>> expression_from_sql("SUM(price * qty) AS total", rows)
(col("price") * col("qty")).sum().alias("total")
>>> expression_from_sql("1 FROM t", rows)
Traceback (most recent call last):
...
sabot_lab.errors.SQLError: a parameter's SQL is one expression, got '1 FROM t'
"""

from __future__ import annotations

import pyarrow as pa

from sabot_lab.errors import SQLError
from sabot_lab.expr import Expr

__all__ = ["expression_from_sql"]


def expression_from_sql(text: str, schema: pa.Schema) -> Expr:
    """The expression ``text`` (SQL, as DuckDB writes it; an aggregate, or ``... AS name``,
    allowed) stands for over rows of ``schema``."""
    from sqlglot import exp

    from sabot_lab.sql.context import Context
    from sabot_lab.sql.expressions import RowScope, aggregate, translate
    from sabot_lab.sql.parse import parse
    from sabot_lab.sql.relation import Relation
    from sabot_lab.stream import from_arrow

    ctx = Context(f"SELECT {text}", {})
    try:
        tree = parse(ctx.text)
    except SQLError:
        raise SQLError(f"a parameter's SQL is one expression, got {text!r}") from None
    extra = [k for k, v in tree.args.items() if v and k != "expressions"]
    if not isinstance(tree, exp.Select) or len(tree.expressions) != 1 or extra:
        raise SQLError(f"a parameter's SQL is one expression, got {text!r}")
    (node,) = tree.expressions
    rows = RowScope(Relation.of(from_arrow(schema.empty_table())), ctx, "a parameter")
    inner = node.this if isinstance(node, exp.Alias) else node
    if isinstance(inner, exp.AggFunc | exp.WithinGroup):
        found = aggregate(inner, rows)
    else:
        found = translate(inner, rows)
    return found.alias(node.alias) if isinstance(node, exp.Alias) else found
