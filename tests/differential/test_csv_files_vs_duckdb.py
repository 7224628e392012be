"""CSV reads against DuckDB's ``read_csv``: each messy file under ``tests/data/csv`` read with
``from_csv`` and the equivalent options gives DuckDB's columns, types and rows; random
tables with nulls written as several CSV files and read back through a glob or a list
match DuckDB's read of the same glob, also grouped by a text key (which a scan for a group-by
reads as a dictionary); a file read in many small blocks keeps the types of its first
16 MB; a header-only file, a header-less one and the errors of a wrong schema."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

import sabot_lab as sl
from sabot_lab.connectors import file_formats
from sabot_lab.connectors.file_formats import CsvOptions
from sabot_lab.connectors.files import FileSource
from sabot_lab.errors import SourceError
from tests.support.reference import assert_same_rows, duckdb_table

DATA = Path(__file__).resolve().parent.parent / "data" / "csv"

# file, from_csv's options, read_csv's equivalent options. DuckDB reads a quoted "" as NULL
# unless told otherwise; sabot-lab, as Polars, reads it as an empty string.
CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "semicolon_zip.csv",
        {"separator": ";", "schema": {"zip": "string"}},
        "delim=';', types={'zip': 'VARCHAR'}",
    ),
    ("quoted_fields.csv", {}, "quote='\"', escape='\"', allow_quoted_nulls=false"),
    ("header_only.csv", {}, "header=true"),
    ("null_markers.csv", {"null_values": "NA"}, "nullstr=['NA', ''], allow_quoted_nulls=false"),
    (
        "null_markers.csv",
        {"null_values": ["NA"], "schema": pa.schema([("score", pa.float64())])},
        "nullstr=['NA', ''], allow_quoted_nulls=false, types={'score': 'DOUBLE'}",
    ),
    (
        "dates_dmy.csv",
        {"date_format": "%d/%m/%Y", "datetime_format": "%d/%m/%Y %H:%M:%S"},
        "dateformat='%d/%m/%Y', timestampformat='%d/%m/%Y %H:%M:%S'",
    ),
    ("bom_crlf.csv", {}, "header=true"),
    ("skip_rows.csv", {"skip_rows": 2}, "skip=2"),
    ("tabs.tsv", {"separator": "\t"}, "delim='\t'"),
    ("iso_dates.csv", {}, "header=true"),
    ("iso_dates.csv", {"try_parse_dates": False}, "all_varchar=true"),
    ("all_empty_column.csv", {"schema": {"zip": "string"}}, "types={'zip': 'VARCHAR'}"),
]


@pytest.mark.parametrize(("name", "options", "duckdb_options"), CASES)
def test_messy_csv_files_read_as_duckdb_reads_them(
    name: str, options: dict[str, Any], duckdb_options: str
) -> None:
    path = DATA / name
    expected = duckdb_table(f"SELECT * FROM read_csv('{path}', {duckdb_options})")
    if options.get("try_parse_dates") is False:  # DuckDB can only turn every column to text
        expected = expected.set_column(0, "id", expected["id"].cast(pa.int64()))
    actual = sl.from_csv(path, **options).collect()
    assert actual.schema == expected.schema
    assert actual.to_pylist() == expected.to_pylist()


def test_a_header_less_file_keeps_its_first_row_in_columns_named_as_polars_does() -> None:
    path = DATA / "no_header.csv"
    expected = duckdb_table(f"SELECT * FROM read_csv('{path}', header=false)")
    actual = sl.from_csv(path, has_header=False).collect()
    assert actual.column_names == ["column_1", "column_2", "column_3"]
    assert actual.schema.types == expected.schema.types
    assert_same_rows(actual, expected, ordered=True)
    named = sl.from_csv(
        path, has_header=False, schema={"id": "int32", "n": "string", "x": "float64"}
    )
    assert named.schema == pa.schema([("id", pa.int32()), ("n", pa.string()), ("x", pa.float64())])
    assert named.collect().num_rows == 3


def test_a_header_only_file_gives_its_columns_as_strings_or_as_the_schema_says() -> None:
    path = DATA / "header_only.csv"
    plain = sl.from_csv(path).collect()
    assert plain.schema == pa.schema([(n, pa.string()) for n in ("id", "name", "amount")])
    assert plain.num_rows == 0
    typed = sl.from_csv(path, schema={"id": "int64", "amount": "float64"}).collect()
    assert typed.schema.types == [pa.int64(), pa.string(), pa.float64()]
    assert typed.num_rows == 0


def test_a_schema_naming_a_missing_column_is_an_error_listing_the_columns() -> None:
    with pytest.raises(SourceError, match=r"\['zipcode'\].*\['zip', 'city', 'population'\]"):
        sl.from_csv(DATA / "semicolon_zip.csv", separator=";", schema={"zipcode": "string"})


def _random_table(rng: random.Random, rows: int, offset: int) -> pa.Table:
    def maybe(value: Any) -> Any:
        return None if rng.random() < 0.15 else value

    return pa.table(
        {
            "id": list(range(offset, offset + rows)),
            "k": [maybe(rng.choice(["a", "b", "c;d", 'q"x', "line\nbreak"])) for _ in range(rows)],
            "v": [maybe(rng.randint(-1000, 1000)) for _ in range(rows)],
            "f": [maybe(round(rng.uniform(-1, 1), 6)) for _ in range(rows)],
            "zip": [f"{rng.randint(0, 99999):05d}" for _ in range(rows)],
        }
    )


@pytest.mark.parametrize("seed", range(4))
def test_random_csv_files_through_a_glob_and_a_list_read_as_duckdb_reads_them(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    paths = []
    for f in range(rng.randint(2, 5)):
        table = _random_table(rng, rng.randint(1, 60), f * 1_000)
        paths.append(tmp_path / f"part-{f}.csv")
        options = pcsv.WriteOptions(delimiter=";", quoting_style="needed")
        pcsv.write_csv(table, paths[-1], write_options=options)
    (tmp_path / "_SUCCESS").write_text("")
    expected = duckdb_table(
        f"SELECT * FROM read_csv('{tmp_path}/*.csv', delim=';', types={{'zip': 'VARCHAR'}}, "
        "allow_quoted_nulls=false)"
    )
    for source in (f"{tmp_path}/*.csv", [str(p) for p in paths], tmp_path):
        stream = sl.from_csv(source, separator=";", schema={"zip": "string"})
        assert_same_rows(stream.collect(), expected)
        aggregated = stream.group_by("k").agg(sl.col("v").sum().alias("s")).collect()
        reference = duckdb_table("SELECT k, sum(v) AS s FROM t GROUP BY k", t=expected)
        assert_same_rows(aggregated, reference)


def test_a_group_by_over_csv_files_reads_its_text_keys_as_dictionaries(tmp_path: Path) -> None:
    rng = random.Random(7)
    for region in ("east", "west"):
        (tmp_path / f"region={region}").mkdir()
        for f in range(2):
            table = _random_table(rng, 300, f * 1_000)
            path = tmp_path / f"region={region}" / f"part-{f}.csv"
            pcsv.write_csv(table, path, write_options=pcsv.WriteOptions(quoting_style="needed"))
    expected = duckdb_table(
        f"SELECT * FROM read_csv('{tmp_path}/*/*.csv', hive_partitioning=true, "
        "types={'zip': 'VARCHAR'}, allow_quoted_nulls=false)"
    )
    source = FileSource(
        str(tmp_path), "csv", options=CsvOptions(schema=pa.schema([("zip", pa.string())]))
    )
    batches = [
        b
        for b, _ in source.replay(100, ["k", "region", "v"], encoded=["k", "region"])
        if b is not None
    ]
    assert {str(b.schema.field("k").type) for b in batches} == {
        "dictionary<values=string, indices=int32, ordered=0>"
    }
    assert {str(b.schema.field("region").type) for b in batches} == {"string"}
    read = pa.Table.from_batches(batches)
    assert_same_rows(
        read.set_column(0, "k", read["k"].cast(pa.string())), expected.select(["k", "region", "v"])
    )
    stream = sl.from_csv(tmp_path, schema={"zip": "string"}).filter(sl.col("region") == "west")
    aggregated = stream.group_by("k").agg(sl.col("v").sum().alias("s"), sl.count().alias("n"))
    reference = duckdb_table(
        "SELECT k, sum(v) AS s, count(*) AS n FROM t WHERE region = 'west' GROUP BY k", t=expected
    )
    assert_same_rows(aggregated.collect(), reference)


def test_a_csv_file_rewritten_with_other_types_is_read_with_its_new_types(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"

    def write(text: str, age_s: int) -> None:  # modified ``age_s`` ago: settled, types kept
        path.write_text(text)
        when = time.time_ns() - age_s * 10**9
        os.utime(path, ns=(when, when))

    write("id,v\n1,10\n2,20\n", 3600)
    for _ in range(2):  # the second read reuses the types inferred by the first
        expected = duckdb_table(f"SELECT * FROM read_csv('{path}')")
        actual = sl.from_csv(path).collect()
        assert (
            actual.schema == expected.schema == pa.schema([("id", pa.int64()), ("v", pa.int64())])
        )
        assert actual.to_pylist() == expected.to_pylist()
    write("id,v\n1,x\n2,2.5\n", 3599)  # another size and time: inferred afresh
    expected = duckdb_table(f"SELECT * FROM read_csv('{path}')")
    actual = sl.from_csv(path).collect()
    assert actual.schema == expected.schema
    assert actual.schema.field("v").type == pa.string()
    assert actual.to_pylist() == expected.to_pylist()


def test_a_csv_file_of_many_read_blocks_keeps_the_types_of_its_first_inference_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # blocks of 2 KB: the file is read in dozens of them, rows and quoted line breaks across
    # their ends; the types still come from the first 16 MB, where a float follows 2 000
    # integer rows (read in 2 KB blocks, an integer column would fail on it)
    monkeypatch.setattr(file_formats, "CSV_READ_BLOCK", 1 << 11)
    table = _random_table(random.Random(3), 3_000, 0)
    amounts = [None if i % 7 == 0 else float(i) for i in range(2_999)]  # written as 1, 2, ...
    table = table.append_column("amount", pa.array([*amounts, 2.5], pa.float64()))
    path = tmp_path / "t.csv"
    pcsv.write_csv(table, path, write_options=pcsv.WriteOptions(quoting_style="needed"))
    assert path.stat().st_size > 40 * file_formats.CSV_READ_BLOCK
    expected = duckdb_table(
        f"SELECT * FROM read_csv('{path}', types={{'zip': 'VARCHAR'}}, allow_quoted_nulls=false)"
    )
    actual = sl.from_csv(path, schema={"zip": "string"}).collect()
    assert actual.schema == expected.schema
    assert actual.schema.field("amount").type == pa.float64()
    assert actual.to_pylist() == expected.to_pylist()
