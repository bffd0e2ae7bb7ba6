"""Old job path, kept for one release: recount jobs queued before the move to campaigns/reports/
name this path. Remove in the next release; new code imports campaigns.reports.tallies."""

from campaigns.reports.tallies import recount_job

__all__ = ["recount_job"]
