"""File reads: sabot-lab against DuckDB and Polars on the same files, one aggregate each.

Generates about 1 GB of CSV (``--scale 1``; ``--scale 0.05`` for a quick try) and the same
rows as Parquet: one file, a 100-file glob, and hive partitions by ``region``. For each
layout it first checks that the three engines agree (row count and a sum), then times a full
read with ``GROUP BY key`` (sum and count), medians of ``--runs`` interleaved runs, and a
read of the hive layout filtered on its partition key (files of other regions unread).
Prints rows read per second and sabot-lab's time over the faster of the other two, in wall
time and in CPU time (the three engines run in this process: on a machine busy with other
work, CPU time compares them where wall time mostly measures the load). ``--cases`` runs
only the cases whose names hold one of the strings given (``csv``, ``"parquet file"``,
``glob``, ``hive``, ``region``).

    python benchmarks/io.py --scale 0.05 --cases glob hive
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from _harness import interleaved_wall_cpu_ms

import sabot_lab as sl

ROWS_PER_GB = 29_000_000  # about 34 bytes a CSV line
CHUNK = 1_000_000
REGIONS = [f"r{i}" for i in range(10)]


def _chunk(rng: np.random.Generator, start: int, n: int) -> pa.Table:
    keys = np.array([f"key_{i:03d}" for i in range(200)])
    return pa.table(
        {
            "id": pa.array(np.arange(start, start + n, dtype=np.int64)),
            "key": pa.array(keys[rng.integers(0, len(keys), n)]),
            "region": pa.array(np.array(REGIONS)[rng.integers(0, len(REGIONS), n)]),
            "amount": pa.array(np.round(rng.uniform(0, 1000, n), 2)),
            "qty": pa.array(rng.integers(0, 1000, n)),
        }
    )


def generate(root: Path, rows: int) -> dict[str, str]:
    """The layouts, written once: {name: path or glob}."""
    rng = np.random.default_rng(42)
    csv_path, parquet_path = root / "data.csv", root / "data.parquet"
    glob_dir, hive_dir = root / "glob", root / "hive"
    glob_dir.mkdir()
    schema = _chunk(rng, 0, 1).schema
    files = 100
    per_file = math.ceil(rows / files)
    with (
        pcsv.CSVWriter(csv_path, schema) as csv_out,
        pq.ParquetWriter(parquet_path, schema) as parquet_out,
    ):
        done, file = 0, 0
        while done < rows:
            n = min(CHUNK, rows - done)
            table = _chunk(rng, done, n)
            csv_out.write_table(table)
            parquet_out.write_table(table)
            offset = 0
            while offset < n:  # the 100 files of the glob, filled in order
                into = min(per_file - (done + offset) % per_file, n - offset)
                name = glob_dir / f"part-{(done + offset) // per_file:03d}.parquet"
                piece = table.slice(offset, into)
                if name.exists():
                    piece = pa.concat_tables([pq.read_table(name), piece])
                pq.write_table(piece, name)
                offset += into
            file += 1
            done += n
    ds.write_dataset(
        ds.dataset(parquet_path),
        hive_dir,
        format="parquet",
        partitioning=["region"],
        partitioning_flavor="hive",
        min_rows_per_group=CHUNK // 2,
        max_rows_per_group=CHUNK,
    )
    return {
        "csv": str(csv_path),
        "parquet file": str(parquet_path),
        "parquet 100-file glob": f"{glob_dir}/*.parquet",
        "parquet hive": str(hive_dir),
    }


def engines(layout: str, path: str, region: str | None) -> dict[str, Callable[[], pa.Table]]:
    """The same aggregate by each engine: sum of amount and rows, by key (one region only
    when ``region`` is given)."""
    csv = layout == "csv"
    hive = layout == "parquet hive"
    duck_source = (
        f"read_csv('{path}')"
        if csv
        else f"read_parquet('{path}/**/*.parquet', hive_partitioning=true)"
        if hive
        else f"read_parquet('{path}')"
    )
    where = f"WHERE region = '{region}'" if region else ""

    def sabot() -> pa.Table:
        stream = sl.from_csv(path) if csv else sl.from_parquet(path)
        if region:
            stream = stream.filter(sl.col("region") == region)
        return (
            stream.group_by("key")
            .agg(sl.col("amount").sum().alias("total"), sl.count().alias("n"))
            .collect()
        )

    def duck() -> pa.Table:
        return duckdb.sql(
            f"SELECT key, sum(amount) AS total, count(*) AS n FROM {duck_source} {where} "
            "GROUP BY key"
        ).to_arrow_table()

    def polars() -> pa.Table:
        if csv:
            frame = pl.scan_csv(path)
        elif hive:
            frame = pl.scan_parquet(path, hive_partitioning=True)
        else:
            frame = pl.scan_parquet(path)
        if region:
            frame = frame.filter(pl.col("region") == region)
        out = frame.group_by("key").agg(pl.col("amount").sum().alias("total"), pl.len().alias("n"))
        return out.collect().to_arrow()

    return {"sabot-lab": sabot, "duckdb": duck, "polars": polars}


def _check(results: dict[str, pa.Table], what: str) -> int:
    """The engines' row counts and sums agree; return the rows read."""
    totals = {
        name: (int(pa.compute.sum(t["n"]).as_py()), round(pa.compute.sum(t["total"]).as_py(), 2))
        for name, t in results.items()
    }
    first = totals["sabot-lab"]
    for name, (rows, total) in totals.items():
        if rows != first[0] or not math.isclose(total, first[1], rel_tol=1e-9):
            raise SystemExit(f"{what}: {name} gives {rows} rows, sum {total}; sabot-lab {first}")
    return first[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="GB of CSV (about)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", help="where to write the files (default: a temp dir)")
    parser.add_argument("--cases", nargs="*", help="words naming the cases to run (default: all)")
    args = parser.parse_args()
    rows = int(ROWS_PER_GB * args.scale)
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        root = Path(directory)
        print(f"generating {rows:,} rows ...", flush=True)
        layouts = generate(root, rows)
        size = os.path.getsize(layouts["csv"]) / 1e9
        print(f"CSV {size:.2f} GB, Parquet {os.path.getsize(layouts['parquet file']) / 1e9:.2f} GB")
        cases = [(layout, path, None) for layout, path in layouts.items()]
        cases.append(("parquet hive", layouts["parquet hive"], "r3"))
        print(
            f"{'read':34} {'engine':10} {'ms':>7} {'cpu ms':>7} {'M rows/s':>9} "
            f"{'vs faster':>9} {'cpu vs faster':>13}"
        )
        for layout, path, region in cases:
            what = layout + (f", region = '{region}'" if region else "")
            if args.cases and not any(word in what for word in args.cases):
                continue
            fns = engines(layout, path, region)
            read = _check({name: fn() for name, fn in fns.items()}, what)
            times = interleaved_wall_cpu_ms(fns, args.runs)
            faster = min(times["duckdb"][0], times["polars"][0])
            faster_cpu = min(times["duckdb"][1], times["polars"][1])
            for name, (ms, cpu) in times.items():
                ours = name == "sabot-lab"
                ratio = f"{ms / faster:.2f}x" if ours else ""
                cpu_ratio = f"{cpu / faster_cpu:.2f}x" if ours else ""
                print(
                    f"{what:34} {name:10} {ms:7.0f} {cpu:7.0f} {read / ms / 1e3:9.1f} "
                    f"{ratio:>9} {cpu_ratio:>13}"
                )


if __name__ == "__main__":
    main()
