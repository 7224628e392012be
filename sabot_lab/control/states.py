"""States of jobs, tasks and agents, shared by the JobManager, its tables and clients."""

__all__ = ["AGENT_STATES", "ENDED", "STATES"]

STATES = ("PENDING", "SCHEDULED", "RUNNING", "FINISHED", "FAILED", "CANCELLED")
"""States of jobs and tasks."""
ENDED = ("FINISHED", "FAILED", "CANCELLED")
"""States a job or task never leaves."""
AGENT_STATES = ("STARTING", "ACTIVE", "BUSY", "DRAINING", "FAILED", "STOPPED")
"""States of agents."""
