"""Old job path, kept for one release: fan-out jobs queued (or scheduled) before the move to
campaigns/pipeline/ name this path. Remove in the next release; new code imports
campaigns.pipeline.fanout."""

from campaigns.pipeline.fanout import fan_out

__all__ = ["fan_out"]
