"""GET /l/<code>: a 302 to the link's address, the click logged with one INSERT.

Fast because clicks come in bursts right after a send: one indexed read, one INSERT (no update of
the link's row, which a burst on one campaign would queue behind its lock), and none of the
middleware people's pages need (messaging_site/machine_requests.py). A worker folds the clicks into
the links' counts in batches (clicks.py). The log is a table, so a click answered survives a Redis
flush.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from django.views.decorators.http import require_safe

from campaigns.links.codes import CODE
from campaigns.links.utm import with_utm
from campaigns.models import LinkClick, ShortLink

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
    agent = request.headers.get("User-Agent", "")
    return any(name in agent for name in PREVIEW_AGENTS)


@require_safe
def follow_link(request: HttpRequest, code: str) -> HttpResponse:
    now = timezone.now()
    found = (
        ShortLink.objects.filter(code=code, expires_at__gt=now).values_list("pk", "url", "campaign__link_utm").first()
        if CODE.fullmatch(code)
        else None
    )
    if found is None:
        return HttpResponse(NOT_FOUND, status=404, content_type="text/plain; charset=utf-8")
    pk, url, utm = found
    if not is_preview(request):
        LinkClick.objects.create(link_id=pk, clicked_at=now)
    response = HttpResponseRedirect(with_utm(url, utm or ""))
    response["Cache-Control"] = "no-store"  # each tap must reach us to be counted
    response["Referrer-Policy"] = "no-referrer"  # the code is the recipient's own
    return response
