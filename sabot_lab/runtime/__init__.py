"""The cluster runtime: what runs jobs across processes.

- :mod:`sabot_lab.runtime.protocol`: the states and the typed body of every Flight action;
- :mod:`sabot_lab.runtime.transport`: Flight plumbing (tokens, TLS, JSON actions);
- :mod:`sabot_lab.runtime.addresses`: the address a server hands out (``--advertise-host``,
  never a wildcard);
- :mod:`sabot_lab.runtime.jobmanager`: the JobManager (DBOS workflow, scheduler state
  machine, placement, checkpoints, tables, HTTP endpoint);
- :mod:`sabot_lab.runtime.agent`: the agents that run tasks and exchange rows.

The runtime may import ``physical``, ``optimizer``, ``plan``, ``engine``, ``connectors`` and
``config``/``errors``/``location``; nothing outside it imports ``jobmanager`` or ``agent``
but the CLI (clients use ``protocol`` and ``transport`` only). Importing this package loads
nothing.
"""
