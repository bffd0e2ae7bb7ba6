"""Replies the demo's fakes send back: a few percent of recipients answer, as real ones do after a campaign.

Questions fill the inbox; STOP, START and HELP show the keywords at work.
"""

from __future__ import annotations

import random

# (text, weight): mostly questions, some keywords.
DEMO_REPLIES = (
    ("What time does the sale start?", 4),
    ("Is this in stock in blue?", 2),
    ("Thanks, see you Saturday!", 2),
    ("STOP", 2),
    ("HELP", 1),
    ("START", 1),
)
REPLY_DELAY_SECONDS = 2.0  # after the delivery receipt: people read before they answer


class DemoReplies:
    """Decides who replies and with what: ``rate`` of recipients, reproducible with ``seed``."""

    def __init__(self, rate: float = 0.0, seed: int | None = None, delay: float = REPLY_DELAY_SECONDS):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"--reply-rate: {rate} is not a share between 0 and 1.")
        self.rate = rate
        self.delay = delay
        self.random = random.Random(seed)

    def pick(self) -> str | None:
        """A reply's text, or None for a recipient who does not answer."""
        if not self.rate or self.random.random() >= self.rate:
            return None
        texts, weights = zip(*DEMO_REPLIES, strict=True)
        return self.random.choices(texts, weights)[0]


def add_reply_options(parser) -> None:
    parser.add_argument("--reply-rate", type=float, default=0.0, help="share of recipients who reply (demo)")
    parser.add_argument("--reply-seed", type=int, default=None, help="makes who replies, and what, repeatable")
