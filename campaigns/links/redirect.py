"""GET /l/<code>: a 302 to the link's address, the click logged with one INSERT.

Fast because clicks come in bursts right after a send: one indexed read, one INSERT (no update of
the link's row, which a burst on one campaign would queue behind its lock), and none of the
middleware people's pages need (messaging_site/machine_requests.py). A worker folds the clicks into
the links' counts in batches (clicks.py). The log is a table, so a click answered survives a Redis
flush.

``follow`` is the whole of it without Django's request and response: the fast lane answers most
redirects with it directly (messaging_site/fast_lane.py QuickRedirects), the view the rest.
"""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from django.views.decorators.http import require_safe

from campaigns.links.codes import CODE
from campaigns.links.utm import with_utm
from campaigns.models import Campaign, LinkClick, ShortLink
from messaging_site import plain_sql

# Link-preview fetchers, which open a link as it is sent or shared, not because a person tapped it
# (the user-agent substrings listed in PROVIDERS.md, "Link-preview fetchers").
PREVIEW_AGENTS = (
    "WhatsApp/",
    "facebookexternalhit",
    "Facebot",
    "TelegramBot",
    "Slackbot-LinkExpanding",
    "Slack-ImgProxy",
    "Twitterbot",
    "Discordbot",
    "LinkedInBot",
    "SkypeUriPreview",
    "MicrosoftPreview",
    "Viber",
    "Iframely",
)
NOT_FOUND = "This link is unknown or has expired.\n"


def is_preview(method: str, agent: str) -> bool:
    """A HEAD request or a link-preview fetcher (by its user agent): answered, never counted as a click."""
    return method == "HEAD" or any(name in agent for name in PREVIEW_AGENTS)


@require_safe
def follow_link(request: HttpRequest, code: str) -> HttpResponse:
    # META, not request.headers: that copies every header
    address = follow(code, request.method, request.META.get("HTTP_USER_AGENT", ""))
    if address is None:
        return HttpResponse(NOT_FOUND, status=404, content_type="text/plain; charset=utf-8")
    response = HttpResponseRedirect(address)
    response["Cache-Control"] = "no-store"  # each tap must reach us to be counted
    response["Referrer-Policy"] = "no-referrer"  # the code is the recipient's own
    return response


def follow(code: str, method: str, agent: str) -> str | None:
    """Where the link behind ``code`` goes (its campaign's UTM parameters added), the click logged
    unless it is a preview; None for a code that is malformed, unknown or expired."""
    if not CODE.fullmatch(code):
        return None
    found = followed(code, counted=not is_preview(method, agent))
    if found is None:
        return None
    url, campaign_id = found
    return with_utm(url, campaign_utm(campaign_id))


def followed(code: str, counted: bool) -> tuple[str, int | None] | None:
    """The live link's address and its campaign, the click logged when ``counted``.

    On PostgreSQL one prepared statement (the read and the INSERT in one round trip, no ORM, on a
    plain cursor: messaging_site/plain_sql.py): the redirect is mostly Django and the database's
    answers (bench/clicks.py).
    """
    now = timezone.now()
    if connection.vendor != "postgresql":
        found = ShortLink.objects.filter(code=code, expires_at__gt=now).values_list("pk", "url", "campaign_id").first()
        if found is not None and counted:
            LinkClick.objects.create(link_id=found[0], clicked_at=now)
        return found and found[1:]
    return plain_sql.execute(FOLLOW_SQL, [code, now, now, counted], fetch_one=True)


FOLLOW_SQL = f"""
WITH link AS (
    SELECT id, url, campaign_id FROM {ShortLink._meta.db_table} WHERE code = %s AND expires_at > %s
), click AS (
    INSERT INTO {LinkClick._meta.db_table} (link_id, clicked_at) SELECT id, %s FROM link WHERE %s
)
SELECT url, campaign_id FROM link
"""  # noqa: S608 - table names are ours, every value a parameter

# Each process keeps its campaigns' UTM parameters: a campaign's content (link_utm with it) is fixed
# before its first link is made (the admin saves it only while draft or scheduled and not yet
# fanned out), so a kept value never goes stale for a link, and the redirect reads no campaign row
# (a join in its statement cost PostgreSQL a third more CPU a click). Ids are never reused (an
# identity column; SQLite's AUTOINCREMENT); a save or delete in this process forgets the campaign
# all the same (the test suite's rolled-back transactions do reuse them).
_utms: dict[int, str] = {}
KEPT_UTMS = 4096  # campaigns whose links are clicked at once; past that the whole set starts afresh


def campaign_utm(campaign_id: int | None) -> str:
    """The UTM parameters of the campaign (none for a bulk API job's link or a deleted campaign)."""
    if campaign_id is None:
        return ""
    utm = _utms.get(campaign_id)
    if utm is None:
        utm = Campaign.objects.filter(pk=campaign_id).values_list("link_utm", flat=True).first() or ""
        if len(_utms) >= KEPT_UTMS:
            _utms.clear()
        _utms[campaign_id] = utm
    return utm


def forget_campaign_utm(sender, instance: Campaign, **kwargs) -> None:
    """A campaign saved or deleted in this process (connected in campaigns/apps.py)."""
    _utms.pop(instance.pk, None)
