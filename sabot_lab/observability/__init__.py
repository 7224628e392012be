"""What sabot-lab's processes tell about themselves: structured logs (:mod:`.logs`), the
records of each task an agent collects for its JobManager (:mod:`.task_logs`), a job's records
as a table (:mod:`.log_records`), traces of jobs (:mod:`.tracing`), the resources an agent
uses (:mod:`.resources`) and the lag of Kafka consumers (:mod:`.consumer_lag`).

May import :mod:`sabot_lab.config`, :mod:`sabot_lab.errors`, structlog, OpenTelemetry and
pyarrow; the engine, connectors and every server import it.
"""
