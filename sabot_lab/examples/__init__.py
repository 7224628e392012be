"""Demo data and example pipelines: seeded data sets (:mod:`~sabot_lab.examples.datasets`), the
``sabot-lab demo`` pipeline (:mod:`~sabot_lab.examples.demo`), the Nexmark auction streams of
one generator run (:mod:`~sabot_lab.examples.nexmark`, ``sl.nexmark``) and the Nexmark queries
written with the Stream API (:mod:`~sabot_lab.examples.nexmark_queries`).

The Nexmark generator itself is a connector (:mod:`sabot_lab.connectors.nexmark`).

May import: the user API (:mod:`sabot_lab.stream` and what it builds on) and the client; never
the runtime nor the notebook plug-in.
"""
