"""The quote kernel reads quotes as Arrow's CSV parser does (a reference of its states, on
random texts, and Arrow itself). A CSV file parsed in blocks on several threads (``connectors.csv_blocks``) gives the rows
pyarrow's whole-file reader gives, in order: with quoted values holding separators, doubled
quotes, stray quotes and line breaks (a cut inside one falls back to one reader from that
block), CRLF line ends, skipped rows; an error in a later block is the one reader's error
(its row counted from the file's start); a
consumer that stops early stops the parsing; and a query grouping a file read so equals
DuckDB's."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from sabot_lab.kernels.csv_quotes import ends_outside_quotes

import sabot_lab as sl
from sabot_lab.connectors import csv_blocks, file_formats
from sabot_lab.connectors.csv_blocks import csv_batches, splittable
from sabot_lab.connectors.file_formats import CsvOptions
from tests.support.reference import assert_same_rows, duckdb_table

TEXTS = ["plain", "with, comma", 'a "quoted" word', "", 'x"y', "two\nlines", "cr\r\nlf"]


def _outside_at_end(text: bytes, quote: int = 34, separator: int = 44) -> bool:
    """Arrow's CSV parser's states, byte by byte: whether ``text`` ends outside quotes."""
    state = "start"  # a field's start, inside an unquoted field, inside quotes, after one
    for byte in text:
        if state == "quoted":
            state = "after" if byte == quote else "quoted"
        elif state == "after" and byte == quote:
            state = "quoted"  # a doubled quote
        elif byte in (separator, 10, 13):
            state = "start"
        elif state == "start" and byte == quote:
            state = "quoted"
        else:
            state = "field"
    return state != "quoted"


@pytest.mark.parametrize("seed", range(3))
def test_the_quote_kernel_follows_arrows_states(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(2_000):
        alphabet = rng.choice([b'ab,"\n', b'a,"\n\r', b'a,"', b',"\n'])
        text = bytes(rng.choice(alphabet) for _ in range(rng.randrange(300)))
        assert ends_outside_quotes(text, 34, 44) == _outside_at_end(text), text


def test_the_state_reference_agrees_with_arrow() -> None:
    # one column (a tab separates nothing here): Arrow reads "END" as the last value only
    # when the text before it ended outside quotes
    read = pcsv.ReadOptions(column_names=["c"])
    parse = pcsv.ParseOptions(newlines_in_values=True, delimiter="\t")
    convert = pcsv.ConvertOptions(column_types={"c": pa.string()}, strings_can_be_null=False)
    rng = random.Random(0)
    for _ in range(2_000):
        text = bytes(rng.choice(b'a"\n\r') for _ in range(rng.randrange(100)))
        rows = pcsv.read_csv(pa.py_buffer(text + b"\nEND\n"), read, parse, convert)
        outside = rows["c"][-1].as_py() == "END"
        assert _outside_at_end(text, separator=9) == outside == ends_outside_quotes(text, 34, 9)


def _write(path: Path, rows: int, seed: int, texts: list[str], end: str = "\n") -> None:
    rng = random.Random(seed)
    lines = ["id,key,note,amount"]
    for i in range(rows):
        note = rng.choice(texts)
        quoted = '"' + note.replace('"', '""') + '"' if rng.random() < 0.7 or note else note
        lines.append(f"{i},k{rng.randrange(20)},{quoted},{rng.randrange(10_000) / 100}")
    path.write_bytes((end.join(lines) + end).encode())


def _whole(path: Path, options: CsvOptions) -> pa.Table:
    """The file as pyarrow's (threaded, whole-file) reader parses it with the same options."""
    scan = options.resolve(str(path)).format.default_fragment_scan_options
    return pcsv.read_csv(path, scan.read_options, options.resolve(str(path)).format.parse_options,
                         scan.convert_options)  # fmt: skip


def _blocks(path: Path, options: CsvOptions, block: int) -> pa.Table:
    read = options.resolve(str(path))
    batches = list(csv_batches(path, read, read.read_schema.names, 1000, block=block))
    return pa.Table.from_batches(batches, read.read_schema)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("end", ["\n", "\r\n"])
def test_blocks_give_the_whole_files_rows_in_order(tmp_path: Path, seed: int, end: str) -> None:
    path = tmp_path / "t.csv"
    _write(path, 3_000, seed, TEXTS, end)
    options = CsvOptions()
    expected = _whole(path, options)
    for block in (97, 1 << 10, 1 << 14):
        assert _blocks(path, options, block).equals(expected), block


def test_line_breaks_in_quoted_values_late_in_the_file_are_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    _write(path, 4_000, 7, TEXTS[:5])  # no line break in a value ...
    with path.open("a") as out:  # ... until the end of the file
        out.writelines(f'{i},k1,"line\n{i}\nbreaks",1.5\n' for i in range(4_000, 4_100))
    expected = _whole(path, CsvOptions())
    assert expected.num_rows == 4_100
    assert _blocks(path, CsvOptions(), 512).equals(expected)


def test_skipped_rows_and_a_header_read_once(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    _write(path, 2_000, 1, TEXTS[:4])
    path.write_bytes(b"# exported\n# by a tool\n" + path.read_bytes())
    options = CsvOptions(skip_rows=2)
    expected = _whole(path, options)
    assert expected.num_rows == 2_000
    assert _blocks(path, options, 256).equals(expected)


def test_an_error_in_a_later_block_is_the_readers_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_formats, "CSV_INFER_BLOCK", 1 << 12)  # types from the start only
    path = tmp_path / "t.csv"
    _write(path, 3_000, 2, TEXTS[:4])
    with path.open("a") as out:
        out.write("3000,k1\n")  # a field short
    with pytest.raises(pa.ArrowInvalid, match="Row #3002: Expected 4 columns, got 2: 3000,k1"):
        _blocks(path, CsvOptions(), 1 << 10)


def test_a_consumer_stopping_early_stops_the_parsing(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    _write(path, 20_000, 3, TEXTS[:4])
    read = CsvOptions().resolve(str(path))
    batches = csv_batches(path, read, ["id"], 100, block=1 << 10)
    first = next(batches)["id"].to_pylist()
    assert first == list(range(len(first)))
    batches.close()  # returns once the blocks being parsed are done; the rest never start


def test_small_files_and_other_encodings_are_read_by_the_streaming_reader(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    _write(path, 10, 0, TEXTS[:4])
    read = CsvOptions().resolve(str(path))
    block = file_formats.CSV_READ_BLOCK
    assert splittable(read, 4 * block) and not splittable(read, 4 * block - 1)
    latin = CsvOptions(encoding="latin-1").resolve(str(path))
    assert not splittable(latin, 1 << 30)


def test_a_query_over_a_file_read_in_blocks_equals_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_formats, "CSV_READ_BLOCK", 1 << 12)
    parsed: list[int] = []
    parse = csv_blocks._parse
    monkeypatch.setattr(
        csv_blocks, "_parse", lambda text, start, *rest: parsed.append(start) or parse(text, start, *rest)
    )  # fmt: skip
    path = tmp_path / "t.csv"
    _write(path, 20_000, 5, TEXTS[:5])
    result = (
        sl.from_csv(path)
        .group_by("key")
        .agg(sl.col("amount").sum().alias("total"), sl.count().alias("n"))
        .collect()
    )
    assert len(parsed) > 20  # the file was read in blocks
    expected = duckdb_table(
        f"SELECT key, sum(amount) AS total, count(*) AS n FROM read_csv('{path}') GROUP BY key"
    )
    assert_same_rows(result, expected)
