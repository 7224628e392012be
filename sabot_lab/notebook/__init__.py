"""Notebook views of sabot-lab objects: anywidget widgets and their static HTML fallbacks."""

from sabot_lab.notebook.cluster_widget import ClusterWidget
from sabot_lab.notebook.job_widget import JobWidget
from sabot_lab.notebook.live import JobSnapshot, follow, follow_job, job_snapshot
from sabot_lab.notebook.plan_widget import PlanWidget

__all__ = [
    "ClusterWidget",
    "JobSnapshot",
    "JobWidget",
    "PlanWidget",
    "follow",
    "follow_job",
    "job_snapshot",
]
