"""Gupshup WhatsApp (provider code ``gswa``): one HTTP request per message, form-encoded.

Session messages (text, image, video, file) go to /wa/api/v1/msg; approved templates go to
/wa/api/v1/template/msg. Gupshup answers ``{"status": "submitted", "messageId": ...}`` and later
calls our webhook with events keyed by that id (providers/gupshup/webhooks.py).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import PurePosixPath
from urllib.parse import quote, unquote, urlsplit

import requests

from providers import http, ratelimit
from providers.base import (
    ChannelError,
    MessageRefused,
    Outcome,
    OutgoingMessage,
    Problem,
    Provider,
    SendResult,
    shown,
    unanswered,
)
from providers.templates import ListedTemplate, TemplateListUnavailable, from_gupshup

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.gupshup.io"
SESSION_PATH = "/wa/api/v1/msg"
TEMPLATE_PATH = "/wa/api/v1/template/msg"
# Lists the app's templates: it needs both the apikey and the app name to be right, so it is a
# fair "check credentials" (path seen in Gupshup's client libraries; not in the current docs).
TEMPLATE_LIST_PATH = "/sm/api/v1/template/list/{app_name}"

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp"}
VIDEO_EXTENSIONS = {".mp4", ".3gp", ".3gpp"}
WHATSAPP_TEXT_LIMIT = 4096
WHATSAPP_CAPTION_LIMIT = 1024  # the text of a media message is its caption: WhatsApp's own limit
# Parts of a template's variables, in the order Gupshup expects their values in "params".
TEMPLATE_PARTS = ("Header", "Body", "Buttons")
# Gupshup has no documented error codes for channel problems; these words in an error message
# mean the channel, not the message, is wrong (tolerant on purpose: wording is unconfirmed).
CHANNEL_PROBLEM = re.compile(
    r"(?i)auth|api ?key|portal user|invalid app|app ?name|app details|wallet|insufficient balance|not authori[sz]ed"
)
# The error code of a message refused because of the channel (credentials, app, wallet).
CHANNEL_REFUSED = "channel_refused"


class GupshupWhatsAppProvider(Provider):
    code = "gswa"
    label = "Gupshup WhatsApp"
    credential_fields = {"apikey": "API key", "app_name": "App name (src.name)"}
    webhooks = {"events": "Callback URL (delivery reports and replies)"}
    webhook_setup = (
        "In the Gupshup dashboard open the app (the one named in this channel's credentials).",
        "In its Webhooks (callback URL) settings, paste the callback address and save: Gupshup sends "
        "both the delivery events and the replies to it.",
        "Turn on the message events (enqueued, sent, delivered, read, failed) if Gupshup asks which to send.",
    )
    max_batch_size = http.BATCH_MOST  # one request a message, all of a batch in flight at once
    supports_media = True
    campaign_needs_template = True  # a message we start must be an approved template
    deduplicates_by_our_id = False  # Gupshup takes no id of ours, so a repeat is a second message
    # Gupshup publishes no rate limit: the channel's configured rate governs.
    default_rate_limit = 10.0

    # --- what the pipeline calls -------------------------------------------------------------

    def batch_size(self) -> int:
        """No more than one second's worth of messages at once.

        Gupshup takes one message per request and we send a batch in parallel, so a batch larger
        than the channel's per-second rate would go out as a burst above that rate.
        """
        return ratelimit.batch_for(self.channel.rate_limit or 1, super().batch_size())

    def problems(self, message: OutgoingMessage) -> list[Problem]:
        problems = super().problems(message)
        if len(message.media_urls) > 1:
            urls = ", ".join(shown(url) for url in message.media_urls)
            problems.append(
                Problem("media_urls", f"Gupshup WhatsApp carries one media file per message; send one of {urls}.")
            )
        if message.template is not None:
            problems.extend(template_problems(message.template))
            if message.media_urls:
                problems.append(
                    Problem(
                        "media_urls",
                        "a Gupshup template carries its media as template.variables.MEDIA_URL; "
                        f"{shown(message.media_urls[0])} would not be sent.",
                    )
                )
        elif message.media_urls and len(message.text) > WHATSAPP_CAPTION_LIMIT:
            problems.append(
                Problem(
                    "text",
                    f"with media the text is its caption, and WhatsApp captions hold at most "
                    f"{WHATSAPP_CAPTION_LIMIT:,} characters; this one has {len(message.text):,}.",
                )
            )
        if len(message.text) > WHATSAPP_TEXT_LIMIT:
            problems.append(
                Problem(
                    "text",
                    f"WhatsApp messages hold at most {WHATSAPP_TEXT_LIMIT} characters; this one has "
                    f"{len(message.text):,}.",
                )
            )
        return problems

    def template_variable_count(self, template: dict) -> int:
        """The params Gupshup gets: Header, Body and Buttons values (MEDIA_URL is the header's media)."""
        variables = template.get("variables")
        if not isinstance(variables, dict):
            return 0
        return sum(len(part) for name in TEMPLATE_PARTS if isinstance(part := variables.get(name), dict))

    def send_batch(self, messages: list[OutgoingMessage]) -> list[SendResult]:
        self._require_sender()
        calls = [self.call(message) for message in messages]
        answers = http.request_many(calls)
        results = [self.result(m.id, answer) for m, answer in zip(messages, answers, strict=True)]
        refused = [r for r in results if r.error_code == CHANNEL_REFUSED]
        if refused and not any(r.outcome in (Outcome.ACCEPTED, Outcome.UNKNOWN) for r in results):
            raise ChannelError(refused[0].error_message, code=CHANNEL_REFUSED)
        # Some went through: pausing now would put those back in the queue and send them twice.
        # The refused ones wait and retry; the next batch, refused whole, pauses the channel.
        return results

    def warm_up(self) -> None:
        """Start this process's event loop and session before the rate limiter books a time."""
        http.warm_up()

    def open_ahead(self, count: int) -> None:
        """Connections for a batch of ``count`` booked to leave shortly (providers.http.open_ahead)."""
        http.open_ahead(self.base_url(), count)

    def notes_each_request(self) -> bool:
        return True  # a Call per message, naming it (call)

    def call(self, message: OutgoingMessage) -> http.Call:
        path = TEMPLATE_PATH if message.template else SESSION_PATH
        form = self.template_form(message) if message.template else self.session_form(message)
        headers, secrets = self._headers(), (self._apikey(),)
        url = self.base_url() + path
        return http.Call("POST", url, data=form, headers=headers, secrets=secrets, message_id=message.id)

    def result(self, message_id: int, answer: http.Answer | http.TransportError) -> SendResult:
        if isinstance(answer, http.TransportError):
            return unanswered(message_id, answer)
        return self.classify(message_id, answer)

    lists_templates = True
    # 1002: the number is not on WhatsApp (v2 events); 131026 is Meta's code for it (v3 events).
    not_on_whatsapp_codes = frozenset({"1002", "131026"})
    sms_fallback_codes = not_on_whatsapp_codes

    def list_templates(self) -> list[ListedTemplate]:
        """The app's templates (one page: Gupshup's list is not paged)."""
        try:
            app_name = str((self.channel.credentials or {}).get("app_name", ""))
            url = self.base_url() + TEMPLATE_LIST_PATH.format(app_name=quote(app_name, safe=""))
            response = http.request("GET", url, headers=self._headers(), secrets=[self._apikey()])
        except ChannelError as error:
            raise TemplateListUnavailable(error.reason) from None
        except http.TransportError as error:
            raise TemplateListUnavailable(f"Could not reach Gupshup: {error.message}") from None
        body = http.json_object(response)
        if response.status_code == 429:
            wait = http.as_int(response.headers.get("X-Rate-Limit-Retry-After-Seconds"))
            raise TemplateListUnavailable(
                "Gupshup lists templates 10 times a minute at most (429).", wait or http.retry_after_seconds(response)
            )
        if not 200 <= response.status_code < 300:
            raise TemplateListUnavailable(
                f"Gupshup did not list the templates: {_check_refusal(response, body, app_name)}."
            )
        listed = body.get("templates") if isinstance(body.get("templates"), list) else []
        return [template for template in map(from_gupshup, listed) if template is not None]

    def check_credentials(self) -> str:
        super().check_credentials()  # names missing credentials
        app_name = self.channel.credentials["app_name"]
        url = self.base_url() + TEMPLATE_LIST_PATH.format(app_name=quote(app_name, safe=""))
        try:
            response = http.request("GET", url, headers=self._headers(), secrets=[self._apikey()])
        except http.TransportError as error:
            raise ChannelError(f"Could not reach Gupshup: {error.message}") from None
        body = http.json_object(response)
        if not 200 <= response.status_code < 300:  # a redirect is not an answer either
            raise ChannelError(f"Gupshup refused the check: {_check_refusal(response, body, app_name)}.", code="auth")
        templates = body.get("templates") if isinstance(body.get("templates"), list) else []
        return f"Gupshup accepted the API key for app {app_name!r} ({len(templates)} templates listed)."

    # --- building requests ---------------------------------------------------------------------

    def base_url(self) -> str:
        return self.credentials_may_go_to(self._base_url())

    def credential_urls(self) -> list[str]:
        return [self._base_url()]

    def _base_url(self) -> str:
        return (self.channel.api_base_url or DEFAULT_BASE_URL).rstrip("/")

    def session_form(self, message: OutgoingMessage) -> dict[str, str]:
        return {**self._addressing(message), "message": json.dumps(session_content(message))}

    def template_form(self, message: OutgoingMessage) -> dict[str, str]:
        template = message.template or {}
        form = {
            **self._addressing(message),
            "template": json.dumps({"id": str(template["id"]), "params": template_params(template)}),
        }
        media_url = (template.get("variables") or {}).get("MEDIA_URL")
        if media_url:
            form["message"] = json.dumps(template_media_header(str(media_url)))
        return form

    def _addressing(self, message: OutgoingMessage) -> dict[str, str]:
        return {
            "channel": "whatsapp",
            "source": self.channel.sender.strip().removeprefix("+"),
            "src.name": self.channel.credentials["app_name"],
            "destination": message.to.removeprefix("+"),
        }

    def _headers(self) -> dict[str, str]:
        return {"apikey": self._apikey(), "Accept": "application/json"}

    def _apikey(self) -> str:
        return str((self.channel.credentials or {}).get("apikey", ""))

    def _require_sender(self) -> None:
        if not self.channel.sender.strip():
            raise ChannelError(
                "sender: a Gupshup channel needs its WhatsApp number (E.164) as sender.", code="missing_sender"
            )

    # --- reading answers -----------------------------------------------------------------------

    def classify(self, message_id: int, response: requests.Response | http.Answer) -> SendResult:
        """Map one Gupshup answer to an outcome (a channel problem is marked CHANNEL_REFUSED)."""
        body = http.json_object(response)
        status = response.status_code
        reason = _error_text(body, response)
        if response.ok and body.get("status") != "error":
            provider_id = str(body.get("messageId") or "")
            if body.get("status") == "submitted" and provider_id:
                return SendResult(message_id, Outcome.ACCEPTED, provider_message_id=provider_id)
            # A 2xx we cannot read: Gupshup may well have queued it, so resending could duplicate.
            return SendResult(message_id, Outcome.UNKNOWN, error_code=f"http_{status}", error_message=reason)
        # From here on Gupshup said no, by its HTTP status or by {"status": "error"} in a 2xx.
        if status == 429 or status >= 500:
            return SendResult(
                message_id,
                Outcome.RETRY,
                error_code=f"http_{status}",
                error_message=reason,
                retry_after=http.retry_after_seconds(response),
                throttled=status == 429,
            )
        if status in (401, 403) or CHANNEL_PROBLEM.search(reason):
            return SendResult(
                message_id,
                Outcome.RETRY,
                error_code=CHANNEL_REFUSED,
                error_message=f"Gupshup refused the channel (HTTP {status}): {reason}",
            )
        return SendResult(message_id, Outcome.FAILED, error_code=f"http_{status}", error_message=reason)


def session_content(message: OutgoingMessage) -> dict[str, str]:
    """The ``message`` JSON of a session message: text, or one media file captioned with the text."""
    if not message.media_urls:
        return {"type": "text", "text": message.text}
    url = message.media_urls[0]
    kind = media_kind(url)
    if kind == "image":
        content = {"type": "image", "originalUrl": url, "previewUrl": url}
    elif kind == "video":
        content = {"type": "video", "url": url}
    else:
        content = {"type": "file", "url": url, "filename": file_name(url)}
    if message.text:
        content["caption"] = message.text
    return content


def template_params(template: dict) -> list[str]:
    """Header values, then Body values, then Buttons values, each part in its numbered order."""
    refused = template_problems(template)
    if refused:
        raise MessageRefused("; ".join(str(problem) for problem in refused))
    variables = template.get("variables") or {}
    params: list[str] = []
    for part in TEMPLATE_PARTS:
        values = variables.get(part) or {}
        params.extend(str(values[key]) for key in sorted(values, key=_numbered))
    return params


def template_problems(template: object) -> list[Problem]:
    """What Gupshup would refuse about a template's shape (its variable count is the base's rule)."""
    if not isinstance(template, dict) or not str(template.get("id") or "").strip():
        return [Problem("template", 'a Gupshup template needs {"id": "<template id>", "variables": {...}}.')]
    variables = template.get("variables") or {}
    if not isinstance(variables, dict):
        return [Problem("template.variables", f"{shown(variables)} is not an object.")]
    problems = []
    for part in TEMPLATE_PARTS:
        values = variables.get(part) or {}
        if not isinstance(values, dict):
            problems.append(
                Problem(f"template.variables.{part}", f'{shown(values)} is not an object like {{"1": "..."}}.')
            )
    media_url = variables.get("MEDIA_URL")
    if media_url and not str(media_url).startswith(("https://", "http://")):
        problems.append(
            Problem("template.variables.MEDIA_URL", f"{shown(media_url)} is not an http(s) URL Gupshup can fetch.")
        )
    return problems


def template_media_header(url: str) -> dict:
    """The media of a template's header (shape seen in Gupshup client code, unconfirmed in its docs)."""
    kind = media_kind(url)
    if kind == "file":
        return {"type": "document", "document": {"link": url, "filename": file_name(url)}}
    return {"type": kind, kind: {"link": url}}


def media_kind(url: str) -> str:
    """image, video or file, by the URL's extension (WhatsApp sends anything else as a document)."""
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    return "file"


def file_name(url: str) -> str:
    return unquote(PurePosixPath(urlsplit(url).path).name) or "file"


def _numbered(key: str) -> tuple[int, int | str]:
    """Sort "1", "2", "10" as numbers; anything else after them, alphabetically."""
    return (0, int(key)) if str(key).isdigit() else (1, str(key))


def _check_refusal(response: requests.Response | http.Answer, body: dict, app_name: str) -> str:
    """Why Gupshup refused a credentials check, in our own words (its body is never shown)."""
    said = _error_text(body, response).lower() if response.status_code < 500 else ""
    if response.status_code in (401, 403) or "authentication" in said:
        return f"the API key is wrong (Authentication Failed, HTTP {response.status_code})"
    if "app" in said:
        return f"no app named {app_name!r} under this API key (Invalid App Details, HTTP {response.status_code})"
    return f"HTTP {response.status_code}"


def _error_text(body: dict, response: requests.Response | http.Answer) -> str:
    message = body.get("message")
    if isinstance(message, dict):  # some errors nest {"message": {"message": "..."}}
        message = message.get("message")
    return str(message or response.text[:300] or response.reason or "")
