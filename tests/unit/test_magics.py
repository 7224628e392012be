"""The ``%%sabot`` and ``%sabot`` magics in a real IPython shell: results stored in the
notebook's namespace equal DuckDB's on the same data; ``--explain``, ``--save``, templating,
``%config Sabot.*``, short errors; and the cluster commands against a real LocalCluster."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import sabot_lab as sl
from sabot_lab.errors import ClusterError, PlanError, SQLError
from sabot_lab.examples.datasets import quotes, securities
from sabot_lab.notebook.magics import Sabot
from sabot_lab.notebook.plan_widget import PlanWidget
from sabot_lab.notebook.table_view import TableView
from tests.support.polling import wait_for
from tests.support.reference import assert_same_rows, duckdb_table

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
SECTOR_SQL = (
    "SELECT sector, SUM(price * size) AS notional, COUNT(*) AS n, AVG(score) AS score "
    "FROM quotes JOIN secs ON quotes.security_id = secs.id "
    "LEFT JOIN grades ON quotes.rating = grades.rating "
    "WHERE price > 100 GROUP BY sector ORDER BY notional DESC"
)


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    """The IPython shell with the extension loaded, default settings and no variables."""
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "sabot_lab")
    default_settings(ip)
    yield ip
    default_settings(ip)


def default_settings(ip: InteractiveShell) -> None:
    """Forget the variables and the %config Sabot settings of earlier cells."""
    ip.reset(new_session=False)
    ip.config.pop("Sabot", None)
    magics = sabot_magics(ip)
    magics.sql_context.unregister(magics.sql_context.tables())
    for name in Sabot.class_trait_names(config=True):
        setattr(magics, name, magics.trait_defaults(name))


def sabot_magics(ip: InteractiveShell) -> Sabot:
    magics = ip.magics_manager.registry["Sabot"]
    assert isinstance(magics, Sabot)
    return magics


def quote_tables(seed: int) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Quotes (with null prices), securities, and grades per rating (rating 5 has none)."""
    q = quotes(5_000, n_securities=300, seed=seed)
    rng = np.random.default_rng(seed)
    prices = pa.array(q["price"].to_numpy(), mask=rng.random(q.num_rows) < 0.05)
    q = q.set_column(q.column_names.index("price"), "price", prices)
    grades = pa.table({"rating": [1, 2, 3, 4], "score": [0.5, 1.5, None, 4.0]})
    return q, securities(300), grades


@pytest.mark.parametrize("seed", [1, 2])
def test_a_sql_cell_over_a_stream_a_table_and_a_dataframe_equals_duckdb(
    shell: InteractiveShell, seed: int
) -> None:
    q, s, grades = quote_tables(seed)
    shell.user_ns.update(quotes=sl.from_arrow(q), secs=s, grades=grades.to_pandas())
    with capture_output() as captured:
        view = shell.run_cell_magic("sabot", "out <<", SECTOR_SQL)
    expected = duckdb_table(SECTOR_SQL, quotes=q, secs=s, grades=grades)
    assert_same_rows(shell.user_ns["out"], expected, ordered=True)
    assert isinstance(view, TableView) and view.table.equals(shell.user_ns["out"])
    assert view._repr_html_().count("<tr>") == 1 + min(10, expected.num_rows)  # displaylimit
    [plan] = captured.outputs  # the plan widget, shown above the result
    assert WIDGET_VIEW in plan.data and 'class="sabot-node"' in plan.data["text/html"]


def test_save_keeps_the_stream_for_later_cells_and_queries(shell: InteractiveShell) -> None:
    q, s, _ = quote_tables(3)
    shell.user_ns.update(quotes=q, secs=s)
    shell.run_cell_magic(
        "sabot",
        "--save rich",
        "SELECT quote_id, ticker, price FROM quotes JOIN secs ON security_id = id "
        "WHERE price > 400",
    )
    assert isinstance(shell.user_ns["rich"], sl.Stream)
    shell.run_cell_magic("sabot", "top <<", "SELECT ticker, MAX(price) AS top FROM rich GROUP BY 1")
    expected = duckdb_table(
        "SELECT ticker, MAX(price) AS top FROM quotes JOIN secs ON security_id = id "
        "WHERE price > 400 GROUP BY 1",
        quotes=q,
        secs=s,
    )
    assert_same_rows(shell.user_ns["top"], expected)
    assert_same_rows(shell.user_ns["rich"].collect(), duckdb_table(
        "SELECT quote_id, ticker, price FROM quotes JOIN secs ON security_id = id WHERE price > 400",
        quotes=q, secs=s,
    ))  # fmt: skip


def counted(table: pa.Table) -> tuple[sl.Stream, list[int]]:
    """A stream of ``table`` through a UDF that counts the batches it sees."""
    calls: list[int] = []

    def count(batch: pa.RecordBatch) -> pa.RecordBatch:
        calls.append(batch.num_rows)
        return batch

    return sl.from_arrow(table).map_batches(count, schema=table.schema), calls


def without_ids(plan: str) -> str:
    return re.sub(r"#\w+?_\d+", "#id", plan)


def test_views_of_one_cell_serve_later_cells_over_the_variables_of_the_moment(
    shell: InteractiveShell,
) -> None:
    q, s, _ = quote_tables(4)
    shell.user_ns.update(quotes=q, secs=s)
    shell.run_line_magic("config", "Sabot.showplan = False")
    create = (
        "CREATE VIEW rich (sid, px) AS SELECT security_id, price FROM quotes WHERE price > 400;\n"
        "CREATE TEMP VIEW per_sector AS\n"
        "  SELECT sector, COUNT(*) AS n, MAX(px) AS top FROM rich JOIN secs ON sid = id GROUP BY 1"
    )
    assert shell.run_cell_magic("sabot", "", create) is None  # views only: nothing to show
    query = "SELECT * FROM per_sector ORDER BY sector"
    shell.run_cell_magic("sabot", "out <<", query)
    con = duckdb.connect()  # its own database: the views stay out of other tests'
    con.register("quotes", q)
    con.register("secs", s)
    con.execute(create)
    assert_same_rows(shell.user_ns["out"], con.sql(query).to_arrow_table(), ordered=True)
    fewer = q.filter(pa.compute.less(q["quote_id"], 100))
    shell.user_ns["quotes"] = fewer  # the views read the variable as it is now
    shell.run_cell_magic("sabot", "again <<", f"{query};\nDROP VIEW per_sector")
    con.register("quotes", fewer)
    assert_same_rows(shell.user_ns["again"], con.sql(query).to_arrow_table(), ordered=True)
    assert sabot_magics(shell).sql_context.views().keys() == {"rich"}
    with pytest.raises(SQLError, match="the notebook has no table 'per_sector'"):
        shell.run_cell_magic("sabot", "", query)


def test_explain_shows_the_plan_and_runs_nothing(shell: InteractiveShell) -> None:
    q, _, _ = quote_tables(4)
    stream, calls = counted(q)
    shell.user_ns["quotes"] = stream
    query = "SELECT rating, COUNT(*) AS n FROM quotes WHERE size > 500 GROUP BY rating"
    with capture_output() as captured:
        returned = shell.run_cell_magic("sabot", "--explain --save by_rating out <<", query)
    assert returned is None and calls == [] and "out" not in shell.user_ns
    [plan] = captured.outputs
    assert WIDGET_VIEW in plan.data and 'class="sabot-node"' in plan.data["text/html"]
    shown, explained = plan.data["text/plain"], str(shell.user_ns["by_rating"].explain())
    assert without_ids(shown) == without_ids(explained)  # each optimize names operators anew
    shell.run_cell_magic("sabot", "out <<", query)  # the same cell without --explain runs
    assert sum(calls) == q.num_rows
    assert_same_rows(shell.user_ns["out"], duckdb_table(query, quotes=q))


def test_templates_fill_in_notebook_variables_and_evaluate_nothing(
    shell: InteractiveShell,
) -> None:
    q, s, _ = quote_tables(5)
    shell.user_ns.update(quotes=q, secs=s, low=250, sector="energy", n=7)
    cell = (
        "SELECT quote_id, price FROM quotes JOIN secs ON security_id = id\n"
        "WHERE price > {{low}} AND sector = '{{ sector }}' ORDER BY price DESC, quote_id LIMIT {{n}}"
    )
    shell.run_cell_magic("sabot", "out <<", cell)
    expected = duckdb_table(
        "SELECT quote_id, price FROM quotes JOIN secs ON security_id = id "
        "WHERE price > 250 AND sector = 'energy' ORDER BY price DESC, quote_id LIMIT 7",
        quotes=q,
        secs=s,
    )
    assert_same_rows(shell.user_ns["out"], expected, ordered=True)
    shell.user_ns["evaluated"] = []
    with pytest.raises(SQLError, match="is not a variable name") as err:
        shell.run_cell_magic(
            "sabot", "", "SELECT * FROM quotes\nWHERE price > {{evaluated.append(1)}}"
        )
    assert (err.value.line, err.value.column) == (2, 15)
    assert shell.user_ns["evaluated"] == []
    with pytest.raises(SQLError, match=r"no variable 'lo'\. Did you mean 'low'"):
        shell.run_cell_magic("sabot", "", "SELECT * FROM quotes WHERE price > {{lo}}")


def test_config_sets_autolimit_displaylimit_and_showplan(shell: InteractiveShell) -> None:
    q, _, _ = quote_tables(6)
    shell.user_ns["quotes"] = q
    magics = sabot_magics(shell)
    shell.run_line_magic("config", "Sabot.autolimit = 7")
    shell.run_line_magic("config", "Sabot.displaylimit = 3")
    shell.run_line_magic("config", "Sabot.showplan = False")
    assert (magics.autolimit, magics.displaylimit, magics.showplan) == (7, 3, False)
    shell.run_line_magic("config", "Sabot.autolimit = -1")  # refused (traitlets logs why)
    assert magics.autolimit == 7
    query = "SELECT quote_id, price FROM quotes ORDER BY price DESC NULLS LAST, quote_id"
    with capture_output() as captured:
        view = shell.run_cell_magic("sabot", "out <<", query)
    assert captured.outputs == []  # no plan
    assert_same_rows(shell.user_ns["out"], duckdb_table(query + " LIMIT 7", quotes=q), ordered=True)
    assert view.table.num_rows == 7 and view._repr_html_().count("<tr>") == 1 + 3
    assert "7 rows, 2 columns (first 3 shown)" in repr(view)
    with capture_output() as captured:
        shell.run_line_magic("config", "Sabot")
    for name in ("autolimit", "displaylimit", "cluster", "showplan", "short_errors"):
        assert f"Sabot.{name}" in captured.stdout


def test_errors_show_as_a_short_message(shell: InteractiveShell) -> None:
    shell.user_ns["quotes"] = sl.from_arrow(quote_tables(7)[0])
    with capture_output() as captured:
        result = shell.run_cell("%%sabot\nSELECT pricee FROM quotes")
    assert isinstance(result.error_in_exec, SQLError)
    assert captured.stdout.startswith(
        "SQLError: line 1, column 8: column 'pricee' not found. Did you mean 'price'?"
    )
    assert "Traceback" not in captured.stdout and len(captured.stdout.splitlines()) == 3
    with capture_output() as captured:
        result = shell.run_cell("%%sabot\nSELECT price FROM qoutes")
    assert isinstance(result.error_in_exec, SQLError)
    assert "the notebook has no table 'qoutes'. Did you mean 'quotes'?" in captured.stdout
    with capture_output() as captured:
        result = shell.run_cell("%sabot jobs")
    assert isinstance(result.error_in_exec, ClusterError)
    assert captured.stdout.startswith("ClusterError: no cluster given")
    shell.run_line_magic("config", "Sabot.short_errors = False")
    with capture_output() as captured:
        shell.run_cell("%%sabot\nSELECT pricee FROM quotes")
    assert "Traceback" in captured.stdout and "SQLError" in captured.stdout
    with pytest.raises(UsageError, match="invalid choice: 'frob'"):
        shell.run_line_magic("sabot", "frob")
    with pytest.raises(UsageError, match="unrecognized arguments: --bogus"):
        shell.run_cell_magic("sabot", "--bogus", "SELECT price FROM quotes")


def test_an_unbounded_query_runs_here_only_with_a_limit(shell: InteractiveShell) -> None:
    shell.user_ns["bids"] = sl.nexmark(events=None, seed=3).bids
    query = "SELECT auction, price FROM bids WHERE price > 50000"
    with pytest.raises(PlanError, match="unbounded stream, so running it here would never end"):
        shell.run_cell_magic("sabot", "", query)
    shell.run_line_magic("config", "Sabot.autolimit = 50")
    shell.run_cell_magic("sabot", "out <<", query)
    bounded = sl.nexmark(events=200_000, seed=3).bids.collect()
    expected = duckdb_table(query, bids=bounded)
    rows = shell.user_ns["out"].to_pylist()
    assert len(rows) == 50 and all(row in expected.to_pylist() for row in rows)


def test_a_query_that_would_never_give_a_row_is_refused_even_with_a_limit(
    shell: InteractiveShell,
) -> None:
    def endless(i: int) -> dict[str, list[int]]:
        if i > 100:  # refused before any row is read; a guard against reading forever
            raise RuntimeError("read past the guard")
        return {"n": [i]}

    shell.user_ns["ticks"] = sl.from_generator(endless)
    shell.run_line_magic("config", "Sabot.autolimit = 5")
    with pytest.raises(PlanError, match=r"the query would wait forever: sort\(\) orders"):
        shell.run_cell_magic("sabot", "", "SELECT n FROM ticks ORDER BY n DESC LIMIT 3")


def test_explain_line_magic_shows_the_plan_of_an_expression(shell: InteractiveShell) -> None:
    shell.run_cell("import sabot_lab as sl\nq = sl.from_pydict({'x': [1, 2, 3]})")
    widget = shell.run_line_magic("sabot", 'explain q.filter(sl.col("x") > 1).select("x")')
    assert isinstance(widget, PlanWidget)
    expected = shell.user_ns["q"].filter(sl.col("x") > 1).select("x").explain()
    assert without_ids(widget.static_text()) == without_ids(str(expected))
    with pytest.raises(UsageError, match="that is a int, not a Stream"):
        shell.run_line_magic("sabot", "explain 1 + 1")
    with pytest.raises(UsageError, match="name 'nope' is not defined"):
        shell.run_line_magic("sabot", "explain nope")


def slow_stream(n: int, delay: float) -> sl.Stream:
    """``n`` rows through a UDF that sleeps ``delay`` seconds per batch of 1,000."""

    def pause(batch: pa.RecordBatch) -> pa.RecordBatch:
        time.sleep(delay)
        return batch

    table = pa.table({"k": [i % 7 for i in range(n)], "x": list(range(n))})
    batches = table.to_batches(max_chunksize=1_000)
    return sl.from_iterable(batches, schema=table.schema).map_batches(pause, schema=table.schema)


@pytest.mark.slow  # a LocalCluster
def test_cluster_commands_on_a_local_cluster(shell: InteractiveShell) -> None:
    q, s, grades = quote_tables(8)
    shell.user_ns.update(quotes=q, secs=s, grades=grades, slow=slow_stream(100_000, 0.05))
    magics = sabot_magics(shell)
    cluster = shell.run_line_magic("sabot", "cluster up 1")
    try:
        assert isinstance(cluster, sl.LocalCluster) and shell.user_ns["cluster"] is cluster
        assert magics.cluster == "cluster" and len(cluster.agents()) == 1
        with pytest.raises(ClusterError, match="already holds a running cluster"):
            shell.run_line_magic("sabot", "cluster up 1")

        job = shell.run_cell_magic("sabot", "--cluster job <<", SECTOR_SQL)
        assert isinstance(job, sl.Job) and shell.user_ns["job"] is job
        expected = duckdb_table(SECTOR_SQL, quotes=q, secs=s, grades=grades)
        assert_same_rows(job.result(timeout=60), expected, ordered=True)

        slow = shell.run_cell_magic(
            "sabot", "--cluster cluster", "SELECT k, SUM(x) AS total FROM slow GROUP BY k"
        )
        wait_for(lambda: slow.status() == "RUNNING")
        jobs = shell.run_line_magic("sabot", "jobs").table.to_pylist()
        states = {row["job_id"]: row["state"] for row in jobs}
        assert states == {job.job_id: "FINISHED", slow.job_id: "RUNNING"}
        with capture_output() as captured:
            shell.run_line_magic("sabot", f"cancel {slow.job_id}")
        assert captured.stdout == f"job {slow.job_id}: CANCELLED\n"
        assert slow.wait(timeout=30) == "CANCELLED"
        with pytest.raises(ClusterError, match="no job 'nope'"):
            shell.run_line_magic("sabot", "cancel nope")
    finally:
        shell.run_line_magic("sabot", "cluster down")
    assert "cluster" not in shell.user_ns and magics.cluster == ""
    assert cluster.jobmanager_process is not None and cluster.jobmanager_process.poll() is not None
    assert all(p.poll() is not None for p in cluster.agent_processes)


def test_cluster_names_that_hold_no_cluster_are_refused(shell: InteractiveShell) -> None:
    shell.user_ns.update(quotes=pa.table({"x": [1]}), c2=42)
    with pytest.raises(ClusterError, match="holds a int as 'c2', not a cluster"):
        shell.run_cell_magic("sabot", "--cluster c2", "SELECT x FROM quotes")
    with pytest.raises(ClusterError, match="has no variable 'c3', not a cluster"):
        shell.run_line_magic("sabot", "jobs --cluster c3")
