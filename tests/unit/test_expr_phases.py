"""Every expression node class has an entry in every phase table, and the expression package
stands alone (it imports nothing of sabot_lab but ``errors``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from sabot_lab.engine.evaluate import EVALUATORS
from sabot_lab.errors import SchemaError
from sabot_lab.expr.nodes import NODE_CLASSES, Expr, node_class
from sabot_lab.expr.render import PYTHON_RENDERERS, SQL_RENDERERS
from sabot_lab.expr.types import TYPE_RULES

PHASES = {
    "evaluate": EVALUATORS,
    "types": TYPE_RULES,
    "python rendering": PYTHON_RENDERERS,
    "SQL rendering": SQL_RENDERERS,
}


@pytest.mark.parametrize("phase", PHASES)
def test_every_node_class_has_an_entry_in_each_phase(phase: str) -> None:
    table = PHASES[phase]
    missing = [cls.__name__ for cls in NODE_CLASSES if cls not in table]
    assert not missing, f"{phase} has no entry for {missing}"
    assert set(table) == set(NODE_CLASSES)


def test_every_node_class_is_known() -> None:
    subclasses: set[type[Expr]] = set()
    pending = list(Expr.__subclasses__())
    while pending:
        cls = pending.pop()
        subclasses.add(cls)
        pending.extend(cls.__subclasses__())
    assert subclasses == set(NODE_CLASSES)
    for cls in NODE_CLASSES:
        assert cls.OPS and all(node_class(op) is cls for op in cls.OPS)


@pytest.mark.slow  # a fresh interpreter
def test_the_expression_package_imports_no_other_part_of_sabot_lab() -> None:
    # A bare parent package, so that only what sabot_lab.expr itself imports is loaded.
    script = textwrap.dedent(
        """
        import importlib.util, sys, types
        spec = importlib.util.find_spec("sabot_lab")
        parent = types.ModuleType("sabot_lab")
        parent.__path__ = list(spec.submodule_search_locations)
        sys.modules["sabot_lab"] = parent
        import sabot_lab.expr
        print(" ".join(sorted(m for m in sys.modules if m.startswith("sabot_lab."))))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert [m for m in out if not m.startswith("sabot_lab.expr")] == ["sabot_lab.errors"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"op": "nope"}, "unknown expression operation 'nope'"),
        ({"op": "col", "params": {"name": "a", "nme": "b"}}, "'col' has no parameter 'nme'"),
        ({"op": "add", "args": [{"op": "lit", "params": {"value": 1}}]}, "cannot take 1 operands"),
    ],
)
def test_nodes_check_their_operation_parameters_and_operands(data: dict, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        Expr.from_dict(data)
