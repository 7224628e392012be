"""What sabot-lab's processes tell about themselves: traces of jobs
(:mod:`~sabot_lab.observability.tracing`), the resources an agent uses
(:mod:`~sabot_lab.observability.resources`) and the lag of Kafka consumers
(:mod:`~sabot_lab.observability.consumer_lag`).

May import ``errors``, ``config``; the engine, connectors and every server import it.
"""
