"""Replies the demo's fakes send back: a few percent of recipients answer, as real ones do after a campaign.

Questions fill the inbox; STOP, START and HELP show the keywords at work. Some recipients also
tap the short links in what they got (``DemoClicks``), so a demo campaign's funnel shows clicks.
"""

from __future__ import annotations

import logging
import random
import re
import threading

import requests

log = logging.getLogger(__name__)

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
    parser.add_argument("--click-rate", type=float, default=0.0, help="share of recipients who tap their links (demo)")
    parser.add_argument("--click-seed", type=int, default=None, help="makes who taps their links repeatable")


# A tracked short link as the send pipeline writes it (campaigns/links/codes.py): <base>/l/<8 base62>.
SHORT_LINK = re.compile(r"https?://[^\s<>\"']+/l/[0-9A-Za-z]{8}(?![0-9A-Za-z])")
PHONE_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
CLICK_DELAY_SECONDS = 1.0  # after the delivery receipt


class DemoClicks:
    """Decides who taps the short links they got: ``rate`` of recipients, reproducible with ``seed``.

    A tap is a GET from a phone's browser on the link itself; the redirect is not followed (the
    shop's address behind it is made up)."""

    def __init__(self, rate: float = 0.0, seed: int | None = None, delay: float = CLICK_DELAY_SECONDS):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"--click-rate: {rate} is not a share between 0 and 1.")
        self.rate = rate
        self.delay = delay
        self.random = random.Random(seed)
        # One tap at a time: SQLite (the demo's default database) takes one writer at a time, and
        # taps from many receipts' threads at once would meet "table is locked" there.
        self.one_at_a_time = threading.Lock()
        # Cleared by a test on SQLite, so the taps wait until the receipts have been written.
        self.taps_go = threading.Event()
        self.taps_go.set()

    def pick(self, text: str) -> list[str]:
        """The short links in ``text`` this recipient taps: all of them, or none."""
        links = SHORT_LINK.findall(text or "")
        if not links or not self.rate or self.random.random() >= self.rate:
            return []
        return links

    def click(self, url: str) -> int:
        """The answer's status (0 when nothing answered)."""
        self.taps_go.wait(60)
        try:
            with self.one_at_a_time:
                answer = requests.get(url, headers={"User-Agent": PHONE_AGENT}, allow_redirects=False, timeout=10)
            return answer.status_code
        except requests.RequestException as error:
            log.info("demo click on %s failed: %s", url, error)
            return 0
