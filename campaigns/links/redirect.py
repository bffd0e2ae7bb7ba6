"""GET /l/<code>: a 302 to the link's address, the click logged with one INSERT.

Fast because clicks come in bursts right after a send: one indexed read, one INSERT (no update of
the link's row, which a burst on one campaign would queue behind its lock), and none of the
middleware people's pages need (messaging_site/machine_requests.py). A worker folds the clicks into
the links' counts in batches (clicks.py). The log is a table, so a click answered survives a Redis
flush.
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


def is_preview(request: HttpRequest) -> bool:
    """A HEAD request or a link-preview fetcher: answered, never counted as a click."""
    if request.method == "HEAD":
        return True
    agent = request.META.get("HTTP_USER_AGENT", "")  # not request.headers: that copies every header
    return any(name in agent for name in PREVIEW_AGENTS)


@require_safe
def follow_link(request: HttpRequest, code: str) -> HttpResponse:
    found = followed(code, counted=not is_preview(request)) if CODE.fullmatch(code) else None
    if found is None:
        return HttpResponse(NOT_FOUND, status=404, content_type="text/plain; charset=utf-8")
    url, utm = found
    response = HttpResponseRedirect(with_utm(url, utm or ""))
    response["Cache-Control"] = "no-store"  # each tap must reach us to be counted
    response["Referrer-Policy"] = "no-referrer"  # the code is the recipient's own
    return response


def followed(code: str, counted: bool) -> tuple[str, str | None] | None:
    """The live link's address and its campaign's UTM parameters, the click logged when ``counted``.

    On PostgreSQL one statement (the read and the INSERT in one round trip, no ORM, on a plain
    cursor: messaging_site/plain_sql.py): the redirect is mostly Django and the database's answers
    (bench/clicks.py).
    """
    now = timezone.now()
    if connection.vendor != "postgresql":
        found = (
            ShortLink.objects.filter(code=code, expires_at__gt=now)
            .values_list("pk", "url", "campaign__link_utm")
            .first()
        )
        if found is not None and counted:
            LinkClick.objects.create(link_id=found[0], clicked_at=now)
        return found and found[1:]
    return plain_sql.execute(FOLLOW_SQL, [code, now, now, counted], fetch_one=True)


FOLLOW_SQL = f"""
WITH link AS (
    SELECT l.id, l.url, c.link_utm FROM {ShortLink._meta.db_table} l
    LEFT JOIN {Campaign._meta.db_table} c ON c.id = l.campaign_id
    WHERE l.code = %s AND l.expires_at > %s
), click AS (
    INSERT INTO {LinkClick._meta.db_table} (link_id, clicked_at) SELECT id, %s FROM link WHERE %s
)
SELECT url, link_utm FROM link
"""  # noqa: S608 - table names are ours, every value a parameter
