"""The JobManager: durable jobs on DBOS, the agent registry, and the Flight API.

- :mod:`.server`: the JobManager server class (Flight API, agent registry, the I/O that
  carries out the scheduler's commands);
- :mod:`.workflow`: a job's durable DBOS workflow and its steps;
- :mod:`.scheduler`: the pure state machine (a job's run, events, commands);
- :mod:`.placement`: which agent runs each task, slots;
- :mod:`.registration`: an agent registers only if the JobManager reaches it back;
- :mod:`.checkpoints`: checkpoint and savepoint files (adopt, restore, keep, remove);
- :mod:`.results`: a job's result rows in the work directory;
- :mod:`.store`: the tables and their migrations; :mod:`.metrics`: figures and Prometheus;
- :mod:`.http`: the HTTP status endpoint, :mod:`.dashboard_login`: its one-time links and
  browser sessions; :mod:`.driver`: stage-after-stage runs on agents.

May import ``runtime.protocol``, ``runtime.transport``, ``runtime.agent`` (to fetch rows),
``physical``, ``optimizer``, ``plan``, ``engine`` (checkpoint layout), ``connectors``
(sinks). Importing this package loads nothing: import the module you need.
"""
