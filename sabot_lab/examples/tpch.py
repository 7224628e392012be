"""TPC-H, the decision-support benchmark, ready to query: its eight tables as Parquet files
exactly as ``tpchgen-cli`` writes them (``string_view`` strings, ``decimal128(15, 2)`` money,
``date32`` dates) and its 22 queries in two wordings: DuckDB's texts (as in DuckDB's
``extension/tpch/dbgen/queries``) and the specification's (``date '…' + interval '…'``, Q15's
view), both with the specification's validation parameters.

``tpchgen-cli`` comes with the ``tpch`` extra (``pip install "sabot-lab[tpch]"``).

>>> import tempfile, sabot_lab as sl
>>> from sabot_lab.examples import tpch
>>> tables = tpch.tables(tempfile.mkdtemp(), scale=0.01)
>>> sl.sql(tpch.queries()[6], tables).collect().to_pylist()
[{'revenue': Decimal('1193053.2253')}]
"""

from __future__ import annotations

import decimal
import math
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from sabot_lab.extras import MissingPackageError
from sabot_lab.file_readers import from_parquet
from sabot_lab.stream import Stream

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "TABLES",
    "WORDINGS",
    "compare",
    "duckdb_answer",
    "duckdb_connection",
    "generate",
    "is_ordered",
    "queries",
    "tables",
]

TABLES = ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier")
WORDINGS = ("duckdb", "spec")
"""``duckdb``: DuckDB's texts (``CAST('…' AS date)``, Q15 as a ``WITH`` query); ``spec``: the
specification's (``date '…' + interval '…'``, Q15 as ``create view``, then ``drop view``)."""


def queries(wording: str = "duckdb") -> dict[int, str]:
    """The 22 queries by number, in ``wording`` (one of :data:`WORDINGS`).

    >>> q = queries("spec")
    >>> len(q), q[1].count("interval '90' day")
    (22, 1)
    """
    if wording not in WORDINGS:
        raise ValueError(f"wording must be one of {', '.join(WORDINGS)}, got {wording!r}")
    folder = resources.files("sabot_lab.examples") / "tpch_queries" / wording
    return {n: (folder / f"q{n:02d}.sql").read_text() for n in range(1, 23)}


def _cli() -> str:
    beside_python = Path(sys.executable).with_name("tpchgen-cli")
    found = str(beside_python) if beside_python.exists() else shutil.which("tpchgen-cli")
    if found is None:
        raise MissingPackageError(
            'TPC-H data needs tpchgen-cli, which is not installed: pip install "sabot-lab[tpch]"'
        )
    return found


def generate(directory: str | Path, scale: float = 0.01, tables: tuple[str, ...] = TABLES) -> Path:
    """Write the TPC-H ``tables`` at scale factor ``scale`` (1: about 1 GB of data, 6 million
    ``lineitem`` rows) as ``directory/<table>.parquet``; returns ``directory``.

    >>> import tempfile
    >>> from sabot_lab.examples import tpch
    >>> folder = tpch.generate(tempfile.mkdtemp(), 0.01, ("nation",))
    >>> sorted(p.name for p in folder.iterdir())
    ['nation.parquet']
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            _cli(),
            "parquet",
            "-s",
            str(scale),
            f"--output-dir={directory}",
            "--tables",
            ",".join(tables),
        ],
        check=True,
        capture_output=True,
        timeout=3600,
    )
    return directory


def tables(directory: str | Path, scale: float = 0.01) -> dict[str, Stream]:
    """The eight tables as streams over ``directory/<table>.parquet``, written at ``scale``
    first unless the directory already holds the tables of that scale (it remembers the scale
    in ``directory/scale``). Pass the result to :func:`sabot_lab.sql`.

    >>> import tempfile
    >>> from sabot_lab.examples import tpch
    >>> folder = tempfile.mkdtemp()
    >>> tpch.tables(folder)["nation"].collect().num_rows
    25
    """
    directory = Path(directory)
    marker = directory / "scale"
    paths = {t: directory / f"{t}.parquet" for t in TABLES}
    have = marker.exists() and marker.read_text() == str(scale)
    if not (have and all(p.exists() for p in paths.values())):
        generate(directory, scale)
        marker.write_text(str(scale))
    return {t: from_parquet(p) for t, p in paths.items()}


def _statements(script: str) -> list[str]:
    return [s for s in script.split(";") if s.strip()]


def _is_query(statement: str) -> bool:
    return re.match(r"\s*(create|drop)\b", statement, re.IGNORECASE) is None


def duckdb_connection(directory: str | Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with a view over each table file in ``directory``.

    >>> import tempfile
    >>> from sabot_lab.examples import tpch
    >>> con = tpch.duckdb_connection(tpch.generate(tempfile.mkdtemp(), 0.01, ("region",)))
    >>> con.sql("select count(*) from region").fetchall()
    [(5,)]
    """
    import duckdb

    con = duckdb.connect()
    for path in Path(directory).glob("*.parquet"):
        con.read_parquet(str(path)).create_view(path.stem)
    return con


def duckdb_answer(script: str, con: duckdb.DuckDBPyConnection) -> pa.Table:
    """DuckDB's answer to ``script`` on ``con`` (see :func:`duckdb_connection`): the reference
    the tests and ``benchmarks/tpch.py`` check sabot-lab's answers with. DuckDB does not read
    the specification's interval precision (``interval '90' day (3)``, meaning ``day``).

    >>> import tempfile
    >>> from sabot_lab.examples import tpch
    >>> con = tpch.duckdb_connection(tpch.generate(tempfile.mkdtemp(), 0.01, ("region",)))
    >>> tpch.duckdb_answer("create view r as select * from region; select count(*) as n from r", con)
    pyarrow.Table
    n: int64
    ----
    n: [[5]]
    """
    answer = None
    for statement in _statements(script.replace("day (3)", "day")):
        if _is_query(statement):
            answer = con.sql(statement).to_arrow_table()
        else:
            con.execute(statement)
    if answer is None:
        raise ValueError("the script has no query")
    return answer


def is_ordered(script: str) -> bool:
    """Whether the query of ``script`` (its statement other than ``create``/``drop``) orders
    its rows: then answers are compared row by row, else as multisets.

    >>> is_ordered(queries()[1]), is_ordered(queries()[6]), is_ordered(queries("spec")[15])
    (True, False, True)
    """
    query = next(s for s in _statements(script) if _is_query(s))
    return re.search(r"\border\s+by\b", query, re.IGNORECASE) is not None


HUGEINT = pa.decimal128(38, 0)
"""How DuckDB's HUGEINT (a sum of integers) reaches Arrow; sabot-lab sums integers to int64."""


def _same(a: Any, b: Any, exact: bool) -> bool:
    if isinstance(b, decimal.Decimal) and exact:  # exact, never a float
        return isinstance(a, decimal.Decimal | int) and a == b
    if isinstance(a, float | decimal.Decimal) and isinstance(b, float | decimal.Decimal):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def _key(row: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(
        repr(round(float(v), 6) if isinstance(v, float | decimal.Decimal) else v) for v in row
    )


def compare(answer: pa.Table, reference: pa.Table, *, ordered: bool, exact: bool = True) -> None:
    """Raise :class:`AssertionError` naming the first difference unless ``answer`` holds the
    rows of ``reference`` (in order when ``ordered``): decimals equal and of the reference's
    types when ``exact`` (a reference's ``decimal128(38, 0)``, DuckDB's HUGEINT, may be an
    integer), other numbers to 1e-9 relative.

    >>> ref = pa.table({"k": ["a", "b"], "v": [1.0, 2.0]})
    >>> compare(pa.table({"k": ["b", "a"], "v": [2.0, 1.0]}), ref, ordered=False)
    >>> compare(pa.table({"k": ["b", "a"], "v": [2.0, 1.0]}), ref, ordered=True)
    Traceback (most recent call last):
    ...
    AssertionError: row 0: ('b', 2.0) != ('a', 1.0)
    """
    if answer.num_rows != reference.num_rows:
        raise AssertionError(f"{answer.num_rows} rows, the reference has {reference.num_rows}")
    if exact:
        for ours, theirs in zip(answer.schema, reference.schema, strict=True):
            if (
                pa.types.is_decimal(theirs.type)
                and theirs.type != HUGEINT
                and ours.type != theirs.type
            ):
                raise AssertionError(
                    f"column {ours.name}: {ours.type}, the reference's {theirs.type}"
                )
    rows = [tuple(r.values()) for r in answer.to_pylist()]
    want = [tuple(r.values()) for r in reference.to_pylist()]
    if not ordered:
        rows, want = sorted(rows, key=_key), sorted(want, key=_key)
    for i, (a, b) in enumerate(zip(rows, want, strict=True)):
        if len(a) != len(b) or not all(_same(x, y, exact) for x, y in zip(a, b, strict=True)):
            raise AssertionError(f"row {i}: {a} != {b}")
