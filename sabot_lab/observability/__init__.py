"""What sabot-lab's processes tell about themselves: structured logs (:mod:`.logs`), the
records of each task an agent collects for its JobManager (:mod:`.task_logs`) and a job's
records as a table (:mod:`.log_records`).

May import :mod:`sabot_lab.config`, :mod:`sabot_lab.errors`, structlog and pyarrow.
"""
