"""IPython magics: ``%load_ext sabot_lab``, then SQL cells over the notebook's tables and
commands for clusters and jobs.

``%%sabot [--cluster [NAME]] [--explain] [--save NAME] [VAR <<]`` runs the cell's SQL script
over the streams, Arrow tables and pandas DataFrames the script names (notebook variables),
after filling ``{{name}}`` placeholders with variables' values. The views a cell creates
(``CREATE VIEW``) stay for the kernel's later cells, reading the variables of the moment. The
cell shows the plan widget and the result table; ``--explain`` shows the plan and runs nothing;
``--save NAME`` keeps the query's stream as the variable ``NAME`` for later cells (and
queries); ``VAR <<`` stores the result table as ``VAR``. ``--cluster NAME`` submits the query
to the cluster in variable ``NAME`` (``--cluster`` alone: the default cluster,
``Sabot.cluster``) and shows the job (``VAR <<`` then stores the :class:`~sabot_lab.Job`).
Flink SQL's ``CREATE TABLE ... WITH ('connector' = ...)`` and ``CREATE FUNCTION`` also stay
for later cells; ``INSERT INTO`` runs a bounded query here (the cell's result is the rows
written) or, with ``--cluster``, submits the job.

``%sabot jobs``, ``%sabot cancel JOB_ID`` (both with ``--cluster NAME``), ``%sabot cluster up
N [--name NAME]`` (starts a :class:`~sabot_lab.LocalCluster` with N agents as variable
``NAME``, default ``cluster``, and makes it the default cluster), ``%sabot cluster down``
and ``%sabot explain EXPRESSION`` (the plan widget of the stream an expression gives).

Settings, as ``%config Sabot.autolimit = 1000``: ``autolimit`` (rows a query returns at most;
0: all), ``displaylimit`` (rows shown; the stored result has them all), ``cluster`` (the
default cluster's variable), ``showplan`` (show the plan above each result) and
``short_errors`` (sabot-lab errors as one message, not a traceback).

>>> import sabot_lab as sl
>>> from IPython.core.interactiveshell import InteractiveShell
>>> shell = InteractiveShell.instance()
>>> sl.load_ipython_extension(shell)  # in a notebook: %load_ext sabot_lab
>>> shell.user_ns["quotes"] = sl.from_pydict({"sector": ["tech", "energy", "tech"], "px": [1, 2, 3]})
>>> shell.run_line_magic("config", "Sabot.showplan = False")
>>> shell.run_cell_magic("sabot", "by_sector <<", "SELECT sector, SUM(px) AS px FROM quotes GROUP BY sector ORDER BY sector")
2 rows, 2 columns
┌──────────┬───────┐
│ sector   ┆ px    │
│ ---      ┆ ---   │
│ string   ┆ int64 │
╞══════════╪═══════╡
│ "energy" ┆ 2     │
│ "tech"   ┆ 4     │
└──────────┴───────┘
>>> shell.user_ns["by_sector"].num_rows
2
>>> shell.run_line_magic("config", "Sabot.showplan = True")
"""

from __future__ import annotations

import argparse
from typing import Any

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import MagicArgumentParser
from IPython.display import display
from traitlets import Bool, Int, Unicode
from traitlets.config.configurable import Configurable

import sabot_lab as sl
from sabot_lab.client import Cluster, LocalCluster
from sabot_lab.errors import ClusterError, PlanError, SabotError
from sabot_lab.logical.termination import require_rows
from sabot_lab.notebook.sql_cell import expand_template, split_target, tables_in
from sabot_lab.notebook.sql_completion import sabot_cell_matcher
from sabot_lab.notebook.table_view import TableView

__all__ = ["Sabot", "load_ipython_extension"]


def _cell_parser() -> MagicArgumentParser:
    parser = MagicArgumentParser(prog="%%sabot")
    parser.add_argument("--cluster", nargs="?", const="", metavar="NAME")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--save", metavar="NAME")
    return parser


def _line_parser() -> MagicArgumentParser:
    parser = MagicArgumentParser(prog="%sabot")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    jobs = commands.add_parser("jobs")
    jobs.add_argument("--cluster", metavar="NAME")
    cancel = commands.add_parser("cancel")
    cancel.add_argument("job_id")
    cancel.add_argument("--cluster", metavar="NAME")
    cluster = commands.add_parser("cluster")
    actions = cluster.add_subparsers(dest="action", required=True, metavar="up|down")
    up = actions.add_parser("up")
    up.add_argument("agents", type=int)
    up.add_argument("--name", default="cluster")
    down = actions.add_parser("down")
    down.add_argument("--cluster", metavar="NAME")
    explain = commands.add_parser("explain")  # its expression is read as written, not split
    explain.add_argument("expression", nargs=argparse.REMAINDER)
    return parser


@magics_class
class Sabot(Magics, Configurable):
    """The ``%%sabot`` and ``%sabot`` magics and their settings (see the module docstring).

    >>> sorted(Sabot.class_trait_names(config=True))
    ['autolimit', 'cluster', 'displaylimit', 'short_errors', 'showplan']
    """

    autolimit = Int(
        0, min=0, config=True, help="Rows a %%sabot query returns at most (a LIMIT on it); 0: all."
    )
    displaylimit = Int(
        10,
        min=0,
        config=True,
        help="Rows of a result shown; the stored result has them all. 0: all.",
    )
    cluster = Unicode(
        "",
        config=True,
        help="The variable holding the default cluster of %%sabot --cluster and %sabot.",
    )
    showplan = Bool(True, config=True, help="Show the plan widget above each %%sabot result.")
    short_errors = Bool(
        True, config=True, help="Show sabot-lab errors as their message, without a traceback."
    )

    def __init__(self, shell: InteractiveShell) -> None:
        Configurable.__init__(self, config=shell.config)
        Magics.__init__(self, shell=shell)
        shell.configurables.append(self)
        self._cell_args = _cell_parser()
        self._line_args = _line_parser()
        self.sql_context = sl.SQLContext()
        """The views the cells created (their tables are the notebook's variables, per cell)."""

    @property
    def namespace(self) -> dict[str, Any]:
        """The notebook's variables."""
        return self.shell.user_ns  # type: ignore[union-attr]

    @no_var_expand
    @cell_magic("sabot")  # type: ignore[arg-type]
    def sabot_cell(self, line: str, cell: str) -> Any:
        """Run the cell's SQL over the notebook's tables:

        %%sabot [--cluster [NAME]] [--explain] [--save NAME] [VAR <<]
        SELECT ... FROM stream_or_table ... WHERE x > {{threshold}}
        """
        try:
            return self._run_sql(line, cell)
        except SabotError as err:
            self._shorten(err)
            raise

    @no_var_expand
    @line_magic("sabot")  # type: ignore[arg-type]
    def sabot_line(self, line: str) -> Any:
        """Clusters and jobs:

        %sabot jobs [--cluster NAME]
        %sabot cancel JOB_ID [--cluster NAME]
        %sabot cluster up N [--name NAME]
        %sabot cluster down [--cluster NAME]
        %sabot explain EXPRESSION
        """
        try:
            return self._command(line)
        except SabotError as err:
            self._shorten(err)
            raise

    # -- %%sabot -----------------------------------------------------------------------------
    def _run_sql(self, line: str, cell: str) -> Any:
        options, target, inline = split_target(line)
        args = self._cell_args.parse_argstring(options)
        namespace = self.namespace
        query = expand_template(f"{inline}\n{cell}" if inline else cell, namespace)
        context = self.sql_context
        tables = tables_in(query, namespace, context.views(), context.tables())
        cluster = self._cluster(args.cluster) if args.cluster is not None else None
        try:
            stream = context.register_many(tables).execute(query, cluster=cluster)
        finally:
            context.unregister(list(tables))
        if not isinstance(stream, sl.Stream):  # definitions only, or an INSERT INTO that ran
            if args.save or (target and stream is None):
                raise UsageError("the cell has no query whose result could be stored")
            if target:
                self._store(target, stream)  # the INSERT's job, or rows written
            return stream
        if args.save:
            self._store(args.save, stream)
        if args.explain or self.showplan:
            display(stream.show_plan())
        if args.explain:
            return None
        limited = stream.head(self.autolimit) if self.autolimit > 0 else stream
        if cluster is not None:
            job = limited.submit(cluster)
            if target:
                self._store(target, job)
            return job
        if not require_rows(limited.graph, limited.node_id, "the query").ends:
            raise PlanError(
                "the query reads an unbounded stream, so running it here would never end: "
                "add a LIMIT, set %config Sabot.autolimit = N, or submit it with --cluster"
            )
        table = limited.collect()
        if target:
            self._store(target, table)
        return TableView(table, self.displaylimit)

    # -- %sabot ------------------------------------------------------------------------------
    def _command(self, line: str) -> Any:
        first, _, rest = line.strip().partition(" ")
        if first == "explain":
            return self._explain(rest.strip())
        args = self._line_args.parse_argstring(line)
        if args.command == "jobs":
            return self._jobs(self._cluster(args.cluster))
        if args.command == "cancel":
            state = self._cluster(args.cluster).job(args.job_id).cancel()
            print(f"job {args.job_id}: {state}")
            return None
        if args.action == "up":
            return self._cluster_up(args.agents, args.name)
        self._cluster_down(args.cluster)
        return None

    def _explain(self, expression: str) -> Any:
        if not expression:
            raise UsageError("%sabot explain needs an expression giving a stream")
        try:
            value = self.shell.ev(expression)  # type: ignore[union-attr]
        except NameError as err:
            raise UsageError(f"%sabot explain {expression}: {err}") from None
        if not isinstance(value, sl.Stream):
            raise UsageError(
                f"%sabot explain {expression}: that is a {type(value).__name__}, not a Stream"
            )
        return value.show_plan()

    def _jobs(self, cluster: Cluster) -> TableView:
        import datetime as dt

        import pyarrow as pa

        def cell(key: str, value: Any) -> Any:
            if key.endswith("_at") and value:
                return dt.datetime.fromtimestamp(value)
            if key == "error" and value:  # its message: the whole error is job.info()["error"]
                return [line for line in str(value).splitlines() if line.strip()][-1]
            return value

        rows = [{key: cell(key, value) for key, value in job.items()} for job in cluster.jobs()]
        return TableView(pa.Table.from_pylist(rows), self.displaylimit)

    def _cluster_up(self, agents: int, name: str) -> LocalCluster:
        existing = self.namespace.get(name)
        process = existing.jobmanager_process if isinstance(existing, LocalCluster) else None
        if process is not None and process.poll() is None:
            raise ClusterError(
                f"the notebook's variable '{name}' already holds a running cluster: "
                f"%sabot cluster down --cluster {name} first, or pass --name OTHER"
            )
        cluster = LocalCluster(agents=agents)
        self._store(name, cluster)
        self.cluster = name
        return cluster

    def _cluster_down(self, name: str | None) -> None:
        name = name or self.cluster
        cluster = self._cluster(name)
        if not isinstance(cluster, LocalCluster):
            raise ClusterError(
                f"'{name}' is a connection to a cluster running elsewhere: only a LocalCluster "
                "started in this notebook can be shut down from it"
            )
        cluster.close()
        self.shell.user_ns.pop(name, None)  # type: ignore[union-attr]
        if self.cluster == name:
            self.cluster = ""
        print(f"cluster '{name}' is down")

    # -- helpers -----------------------------------------------------------------------------
    def _cluster(self, name: str | None) -> Cluster:
        """The cluster in variable ``name``, or the default cluster for None or ""."""
        name = name or self.cluster
        if not name:
            raise ClusterError(
                "no cluster given: start one with %sabot cluster up N, pass --cluster NAME, "
                "or set %config Sabot.cluster = 'NAME'"
            )
        value = self.namespace.get(name)
        if not isinstance(value, Cluster):
            what = "has no variable" if value is None else f"holds a {type(value).__name__} as"
            raise ClusterError(
                f"the notebook {what} '{name}', not a cluster: start one with "
                "%sabot cluster up N or sl.LocalCluster(), or connect with sl.connect(url)"
            )
        return value

    def _store(self, name: str, value: Any) -> None:
        if not name.isidentifier():
            raise UsageError(f"'{name}' is not a valid variable name")
        self.shell.user_ns[name] = value  # type: ignore[union-attr]

    def _shorten(self, err: SabotError) -> None:
        """Have IPython show ``err`` as ``Type: message`` without a traceback when ``short_errors``
        (IPython shows an exception's ``_render_traceback_`` lines instead of its
        traceback; ``%tb`` still shows the whole of it)."""
        if self.short_errors:
            err._render_traceback_ = lambda: [f"{type(err).__name__}: {err}"]  # type: ignore[method-assign]


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """Register the ``%%sabot`` and ``%sabot`` magics and the completion of tables, columns
    and keywords in ``%%sabot`` cells (what ``%load_ext sabot_lab`` runs).

    >>> from IPython.core.interactiveshell import InteractiveShell
    >>> shell = InteractiveShell.instance()
    >>> load_ipython_extension(shell)
    >>> "sabot" in shell.magics_manager.magics["cell"]
    True
    """
    ipython.register_magics(Sabot(ipython))
    matchers = ipython.Completer.custom_matchers
    matchers[:] = [m for m in matchers if getattr(m, "matcher_identifier", "") != "sabot_lab.sql"]
    matchers.append(sabot_cell_matcher(ipython))
