"""A/B variants: a campaign's 2 to 5 versions of its message, split between its recipients.

Its face:

- ``plan_for`` / ``Plan``: the split, and each recipient's variant by hash (the fan-out writes it);
- ``preview_variant``: the variant a number gets, for previews and test sends;
- ``results`` / ``two_proportion_p``: figures per variant and whether a difference is chance;
- ``schedule_winner``, ``winner_step``, ``pick_winner``, ``wake_lost_winner_steps``: test then winner.

May import: campaigns.models, campaigns.pipeline (queueing, for its jobs). Never imports
campaigns.admin or campaigns.api (tests/test_layers.py).
"""

from campaigns.variants.assignment import Plan, buckets, plan_for, preview_variant
from campaigns.variants.results import Results, VariantResult, results, two_proportion_p
from campaigns.variants.winner import pick_winner, schedule_winner, wake_lost_winner_steps, winner_step

__all__ = [
    "Plan",
    "Results",
    "VariantResult",
    "buckets",
    "pick_winner",
    "plan_for",
    "preview_variant",
    "results",
    "schedule_winner",
    "two_proportion_p",
    "wake_lost_winner_steps",
    "winner_step",
]
