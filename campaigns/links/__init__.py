"""Link tracking: each URL in a campaign message becomes a short link for its recipient.

Its face:

- ``LinkBatch``: the send pipeline shortens each rendered message's URLs and saves the batch's
  links with one INSERT before the hand-over keeps the texts (campaigns/pipeline/sending.py);
- ``follow_link``: the view behind /l/<code> (a 302; previews and HEAD are not counted), and
  ``follow``, the same without Django's request and response (the fast lane's quick redirects);
- ``count_clicks``: the RQ job folding logged clicks into the links' counts (``apply_clicks``: one batch);
- ``short_url_length``: how long a short link is, for counting segments before a send.
"""

from campaigns.links.clicks import apply_clicks, count_clicks
from campaigns.links.codes import CODE_LENGTH, LinkBatch, short_url_length, urls_in, with_short_links
from campaigns.links.redirect import PREVIEW_AGENTS, follow, follow_link
from campaigns.links.utm import utm_problem, with_utm

__all__ = [
    "CODE_LENGTH",
    "PREVIEW_AGENTS",
    "LinkBatch",
    "apply_clicks",
    "count_clicks",
    "follow",
    "follow_link",
    "short_url_length",
    "urls_in",
    "utm_problem",
    "with_short_links",
    "with_utm",
]
