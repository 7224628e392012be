"""``import sabot_lab`` loads only what in-process use needs (see README.md, "Import cost")."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # each test starts a fresh interpreter

FORBIDDEN = [
    "pyarrow.flight",  # the client's and servers' transport: sl.connect and friends load it
    "sabot_lab.runtime.agent.server",
    "sabot_lab.runtime.jobmanager.server",
    "dbos",
    "sqlalchemy",
    "anywidget",
    "ipywidgets",
    "IPython",
    "pandas",
    "sabot_lab.notebook",  # the notebook plug-in loads on the first display request
    "numba",  # compiled user functions load it on their first compile
]

PROBE = """
import json, sys, time
start = time.perf_counter()
import sabot_lab
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "loaded": sorted(sys.modules)}))
"""


def _fresh_import(code: str = PROBE) -> dict[str, object]:
    """What a fresh interpreter reports after running ``code``."""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    return dict(json.loads(out.stdout.splitlines()[-1]))


def test_import_sabot_lab_loads_no_server_database_widget_or_pandas_module() -> None:
    report = _fresh_import()
    loaded = set(report["loaded"])  # type: ignore[call-overload]
    assert not [m for m in FORBIDDEN if m in loaded]
    print(f"import sabot_lab: {report['seconds']:.3f} s")  # pytest -s shows it; not asserted


@pytest.mark.parametrize(
    ("use", "loads"),
    [
        ("sl.connect", "pyarrow.flight"),
        ("sl.from_pydict({'x': [1]})._repr_mimebundle_()", "sabot_lab.notebook.plan_widget"),
    ],
)
def test_what_is_left_out_loads_on_first_use(use: str, loads: str) -> None:
    code = f"import json, sys, sabot_lab as sl\n{use}\nprint(json.dumps({{'loaded': {loads!r} in sys.modules}}))"
    assert _fresh_import(code) == {"loaded": True}
