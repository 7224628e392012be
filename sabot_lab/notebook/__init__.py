"""The notebook plug-in: widgets and static HTML views of streams (plans), jobs and clusters,
``collect()`` progress, the ``%%sabot`` magics and their SQL cells.

sabot-lab loads it through the entry point ``sabot_lab.plugins`` /
``notebook = "sabot_lab.notebook:register"`` (see :mod:`sabot_lab.display`); nothing else in
sabot-lab imports it. Importing the package is light: the widget modules
(:mod:`~sabot_lab.notebook.plan_widget`, :mod:`~sabot_lab.notebook.job_widget`,
:mod:`~sabot_lab.notebook.cluster_widget`, ...) load anywidget and IPython when imported.

May import: everything.
"""

from sabot_lab.notebook.plugin import register

__all__ = ["register"]
