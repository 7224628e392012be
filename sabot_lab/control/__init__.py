"""The control plane: scheduling physical plans onto agents (the JobManager builds on it)."""

from sabot_lab.control.driver import run_on_agents

__all__ = ["run_on_agents"]
