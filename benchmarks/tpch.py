"""TPC-H: the 22 queries (DuckDB's texts) on Parquet as ``tpchgen-cli`` writes it, sabot-lab
against DuckDB and Polars (its SQL context, where it runs the query) measured in the same run.

The data is generated on the first run into ``--dir`` (``benchmarks/data/tpch-sf<scale>``) and
reused. Each engine's answer is checked against DuckDB's before any timing (sabot-lab's
exactly: decimals of DuckDB's types; Polars' to 1e-9, its decimals may come back as floats). A
query an engine refuses or answers wrongly is reported, and not timed. Prints a Markdown
table of per-query medians of ``--runs`` interleaved runs and sabot-lab's ratio to each, and the
geometric mean of the ratios over the queries both engines ran.

    python benchmarks/tpch.py --scale 1
    python benchmarks/tpch.py --scale 0.1 --queries 1,3,6
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pyarrow as pa
from _harness import interleaved_ms

import sabot_lab as sl
from sabot_lab.examples import tpch


def _polars(script: str, directory: Path) -> Callable[[], pa.Table]:
    frames = {t: pl.scan_parquet(directory / f"{t}.parquet") for t in tpch.TABLES}

    def run() -> pa.Table:
        return pl.SQLContext(frames).execute(script, eager=True).to_arrow()

    return run


def _sabot(script: str, directory: Path) -> Callable[[], pa.Table]:
    def run() -> pa.Table:
        tables = {t: sl.from_parquet(directory / f"{t}.parquet") for t in tpch.TABLES}
        return sl.sql(script, tables).collect()

    return run


def _checked(
    name: str, fn: Callable[[], pa.Table], reference: pa.Table, ordered: bool, exact: bool
) -> str | None:
    """Why ``fn`` cannot be timed (it fails or answers wrongly), or None."""
    try:
        tpch.compare(fn(), reference, ordered=ordered, exact=exact)
    except AssertionError as wrong:
        return f"{name} WRONG: {wrong}"
    except Exception as error:  # refused or failed: reported, not timed
        return f"{name} fails: {type(error).__name__}: {str(error).splitlines()[0][:90]}"
    return None


def _geomean(ratios: list[float]) -> float:
    return math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="TPC-H scale factor")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--queries", default="", help="comma-separated numbers (default: all)")
    parser.add_argument("--dir", help="data directory (default: benchmarks/data/tpch-sf<scale>)")
    args = parser.parse_args()
    directory = Path(args.dir or Path(__file__).parent / "data" / f"tpch-sf{args.scale:g}")
    print(f"TPC-H scale factor {args.scale:g} in {directory} ...", flush=True)
    tpch.tables(directory, args.scale)
    con = tpch.duckdb_connection(directory)
    numbers = [int(n) for n in args.queries.split(",") if n] or range(1, 23)
    print("| query | sabot-lab ms | DuckDB ms | Polars ms | vs DuckDB | vs Polars |")
    print("|---|---:|---:|---:|---:|---:|")
    vs_duckdb: list[float] = []
    vs_polars: list[float] = []
    notes = []
    for number in numbers:
        script = tpch.queries()[number]
        reference = tpch.duckdb_answer(script, con)
        ordered = tpch.is_ordered(script)
        fns = {"duckdb": lambda script=script: tpch.duckdb_answer(script, con)}
        for name, make, exact in (("sabot-lab", _sabot, True), ("polars", _polars, False)):
            problem = _checked(name, make(script, directory), reference, ordered, exact)
            if problem is None:
                fns[name] = make(script, directory)
            else:
                notes.append(f"q{number:02d} {problem}")
        ms = interleaved_ms(fns, args.runs)
        cells = [f"{ms[n]:.0f}" if n in ms else "-" for n in ("sabot-lab", "duckdb", "polars")]
        for other, into in (("duckdb", vs_duckdb), ("polars", vs_polars)):
            if "sabot-lab" in ms and other in ms:
                into.append(ms["sabot-lab"] / ms[other])
                cells.append(f"{into[-1]:.2f}x")
            else:
                cells.append("-")
        print(f"| Q{number} | {' | '.join(cells)} |", flush=True)
    print(
        f"\ngeometric mean of sabot-lab's ratios: {_geomean(vs_duckdb):.2f}x DuckDB "
        f"({len(vs_duckdb)} queries), {_geomean(vs_polars):.2f}x Polars ({len(vs_polars)} queries)"
    )
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
