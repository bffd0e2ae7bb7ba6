"""Twilio Programmable Messaging: SMS/MMS (``twlo``) and WhatsApp (``twlowa``).

The Messages API takes one message per request, so a batch goes out all at once through
providers.http.request_many (hundreds in flight per worker). A channel may instead run in
"bulk mode" (options {"bulk_mode": true}): many recipients per request through Twilio's 1:Many
endpoint. Request and answer shapes: Twilio's OpenAPI excerpts in tests/specs/ (the tests validate
every request we build against them).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import ClassVar
from urllib.parse import quote

import requests

from providers import http, ratelimit
from providers.base import ChannelError, LookUp, Outcome, OutgoingMessage, Problem, Provider, SendResult, unanswered
from providers.templates import ListedTemplate, TemplateListUnavailable, from_twilio

log = logging.getLogger(__name__)

API_BASE = "https://api.twilio.com"
# The 1:Many endpoint is a preview API (spec version 1.0.0-alpha.1): its answers are parsed
# tolerantly, and anything it does not account for is recorded as unknown, never resent.
BULK_API_BASE = "https://preview.messaging.twilio.com"
CONTENT_API_BASE = "https://content.twilio.com"  # WhatsApp templates (the Content API)
CONTENT_PAGE_SIZE = 500
CONTENT_MOST_PAGES = 40  # 20,000 templates: far more than an account has; a loop guard
MAX_BODY_CHARS = 1600
# The bulk spec's own description says 100 recipients a request; Twilio's bulk products go up
# to 10,000. Staff may raise a channel's batch size up to that.
BULK_DEFAULT_BATCH = 100
BULK_MAX_BATCH = 10_000

CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
# Errors that are the channel's fault, not the message's: every message would fail the same way,
# so the channel is paused for staff instead (bad credentials; a From that is not this account's).
CHANNEL_ERROR_CODES = {20003, 21212, 21606, 21660, 63007}
# Twilio is busy or its queue is full: the message was not taken, try again later.
TRANSIENT_ERROR_CODES = {20429, 21611, 30001}
UNSUBSCRIBED = 21610

SendOne = Callable[[list[OutgoingMessage]], list[SendResult]]


class TwilioProvider(Provider):
    """What Twilio SMS and Twilio WhatsApp share: everything but the address format."""

    credential_fields = {"account_sid": "Account SID (AC...)", "auth_token": "Auth token"}
    max_batch_size = BULK_MAX_BATCH
    webhooks = {"inbound": "Inbound messages (replies)", "status": "Status callback (delivery reports)"}
    webhook_setup = (
        "In the Twilio Console open the sender: the phone number (Phone Numbers, Active numbers), "
        "the WhatsApp sender (Messaging, Senders), or, if the channel sends through a Messaging Service "
        "(MG...), that service's Integration page.",
        'Under "A message comes in" (a Messaging Service: "Send a webhook"), choose Webhook, paste the '
        "inbound address, pick HTTP POST and save.",
        "The status callback is sent with every message, so deliveries are reported without setting it. "
        'Where Twilio asks for a "Status callback URL" (or "Delivery Status Callback"), paste the status '
        "address.",
        "Twilio signs every call with the channel's auth token: keep the token here the same as in the Console.",
    )
    max_media: ClassVar[int] = 10

    # --- configuration ----------------------------------------------------------------------

    @property
    def account_sid(self) -> str:
        return str((self.channel.credentials or {}).get("account_sid", "")).strip()

    @property
    def auth_token(self) -> str:
        return str((self.channel.credentials or {}).get("auth_token", "")).strip()

    @property
    def bulk_mode(self) -> bool:
        return bool((self.channel.options or {}).get("bulk_mode"))

    def api_base(self) -> str:
        return self.credentials_may_go_to(self._api_base())

    def bulk_api_base(self) -> str:
        return self.credentials_may_go_to(self._bulk_api_base())

    def credential_urls(self) -> list[str]:
        urls = [self._api_base(), self._bulk_api_base()]
        return [*urls, self._content_api_base()] if self.lists_templates else urls

    def _content_api_base(self) -> str:
        """options["content_api_base_url"], else the channel's API base (a proxy or local fake), else Twilio."""
        options = self.channel.options or {}
        return str(options.get("content_api_base_url") or self.channel.api_base_url or CONTENT_API_BASE).rstrip("/")

    def _api_base(self) -> str:
        return (self.channel.api_base_url or API_BASE).rstrip("/")

    def _bulk_api_base(self) -> str:
        """options["bulk_api_base_url"], else the channel's API base (a proxy or local fake), else Twilio."""
        options = self.channel.options or {}
        return str(options.get("bulk_api_base_url") or self.channel.api_base_url or BULK_API_BASE).rstrip("/")

    def account_url(self, suffix: str = ".json") -> str:
        return f"{self.api_base()}/2010-04-01/Accounts/{quote(self.account_sid, safe='')}{suffix}"

    def batch_size(self) -> int:
        if self.bulk_mode:
            return max(1, min(self.channel.batch_size or BULK_DEFAULT_BATCH, BULK_MAX_BATCH))
        # One request per message, all of a batch in flight at once: batches that fill the rate
        # limiter's window exactly, and at least two of them fit in what one worker keeps in flight.
        return ratelimit.batch_for(self.channel.rate_limit or 1, http.BATCH_MOST)

    def address(self, number: str) -> str:
        return number

    def sender_fields(self) -> dict[str, str]:
        sender = (self.channel.sender or "").strip()
        if not sender:
            raise ChannelError(
                "The channel has no sender: set a Twilio number or a Messaging Service SID (MG...).", code="no_sender"
            )
        if sender.startswith("MG"):
            return {"MessagingServiceSid": sender}
        return {"From": self.address(sender)}

    def status_callback(self, message_id: int | None = None) -> str:
        """Our status webhook; ``?m=`` carries our id so a callback finds a message whose SID is not saved yet."""
        url = self.channel.webhook_url("status")
        return f"{url}?m={message_id}" if message_id is not None else url

    # --- what can be sent -------------------------------------------------------------------

    def problems(self, message: OutgoingMessage) -> list[Problem]:
        problems = super().problems(message)
        length = twilio_length(message.text)
        if length > MAX_BODY_CHARS:
            problems.append(
                Problem(
                    "text",
                    f"Twilio takes at most {MAX_BODY_CHARS:,} characters; this message has {length:,} "
                    "(counted as Twilio does, in UTF-16 code units: an emoji counts as 2).",
                )
            )
        if len(message.media_urls) > self.max_media:
            problems.append(
                Problem(
                    "media_urls",
                    f"{self.label} takes at most {self.max_media} media URL(s) a message; "
                    f"this message has {len(message.media_urls)}.",
                )
            )
        for position, url in enumerate(message.media_urls):
            if not url.startswith(("https://", "http://")):
                problems.append(Problem(f"media_urls[{position}]", f"{url!r} is not an http(s) URL Twilio can fetch."))
        if message.template is not None:
            problems.extend(template_problems(message.template))
        return problems

    # --- sending ----------------------------------------------------------------------------

    def send_batch(self, messages: list[OutgoingMessage]) -> list[SendResult]:
        if not self.bulk_mode:
            return self._send_singles(messages)
        batches = _same_shape_groups(messages)
        stop = threading.Event()
        if len(batches) == 1:
            outcomes = [_guarded(self._send_bulk, batches[0], stop)]
        else:
            outcomes = list(http.send_pool().map(lambda batch: _guarded(self._send_bulk, batch, stop), batches))
        return _settle(batches, outcomes)

    def warm_up(self) -> None:
        """Pay this process's start-up costs before the rate limiter books a time: the event loop
        and session, and the URL resolver our status callback address comes from."""
        if not self.bulk_mode:
            http.warm_up()
        self.status_callback()

    def notes_each_request(self) -> bool:
        return not self.bulk_mode  # _send_singles: a Call per message, naming it

    def open_ahead(self, count: int) -> None:
        """Connections for a batch of ``count`` booked to leave shortly (providers.http.open_ahead)."""
        if not self.bulk_mode:
            http.open_ahead(self.account_url("/Messages.json"), count)

    def _send_singles(self, messages: list[OutgoingMessage]) -> list[SendResult]:
        """One Messages.json request per message, all in flight at once."""
        url = self.account_url("/Messages.json")
        auth, secrets = (self.account_sid, self.auth_token), (self.auth_token,)
        calls = [
            http.Call("POST", url, data=self.form_fields(m), auth=auth, secrets=secrets, message_id=m.id)
            for m in messages
        ]
        outcomes = [_outcome(m.id, answer) for m, answer in zip(messages, http.request_many(calls), strict=True)]
        return _settle([[m] for m in messages], outcomes)

    def form_fields(self, message: OutgoingMessage) -> list[tuple[str, str]]:
        """The Messages.json form body, as (name, value) pairs: MediaUrl repeats."""
        fields = [("To", self.address(message.to)), *self.sender_fields().items()]
        if message.template:
            # A Content template carries its own text and media: Body and MediaUrl are not sent.
            fields.append(("ContentSid", message.template["id"]))
            variables = _template_variables(message.template)
            if variables:
                fields.append(("ContentVariables", json.dumps(variables, ensure_ascii=False, separators=(",", ":"))))
        else:
            if message.text:
                fields.append(("Body", message.text))
            fields.extend(("MediaUrl", url) for url in message.media_urls)
        fields.append(("StatusCallback", self.status_callback(message.id)))
        return fields

    def _post(self, message_id: int, url: str, **kwargs) -> requests.Response | SendResult:
        try:
            return http.request(
                "POST", url, auth=(self.account_sid, self.auth_token), secrets=[self.auth_token], **kwargs
            )
        except http.TransportError as error:
            return unanswered(message_id, error)

    # --- bulk mode --------------------------------------------------------------------------

    def bulk_payload(self, group: list[OutgoingMessage]) -> dict:
        """One 1:Many request for messages sharing a template / media (Body varies per recipient)."""
        first = group[0]
        payload: dict = {**self.sender_fields(), "StatusCallback": self.status_callback()}
        items = []
        for message in group:
            item: dict = {"To": self.address(message.to)}
            if first.template:
                variables = _template_variables(message.template or {})
                if variables:
                    item["ContentVariables"] = variables  # an object here, unlike Messages.json
            elif message.text:
                item["Body"] = message.text
            items.append(item)
        payload["Messages"] = items
        if first.template:
            payload["ContentSid"] = first.template["id"]
        elif first.media_urls:
            payload["MediaUrl"] = list(first.media_urls)
        return payload

    def _send_bulk(self, group: list[OutgoingMessage]) -> list[SendResult]:
        url = f"{self.bulk_api_base()}/v1/Messages"
        response = self._post(group[0].id, url, json=self.bulk_payload(group))
        if isinstance(response, SendResult):  # nothing or everything may have gone: same for all
            return [replace(response, message_id=m.id) for m in group]
        if response.status_code >= 500:
            # A 5xx may come after Twilio acted on some or all of the recipients: never resend blindly.
            reason = f"Twilio answered HTTP {response.status_code} to the bulk request; it may have sent some or all."
            return [
                SendResult(m.id, Outcome.UNKNOWN, error_code=f"http_{response.status_code}", error_message=reason)
                for m in group
            ]
        if not 200 <= response.status_code < 300:
            return [classify(m.id, response) for m in group]
        body = http.json_object(response)
        if not any(isinstance(body.get(key), list) for key in ("message_receipts", "failed_message_receipts")):
            reason = "Twilio's answer to the bulk request could not be read; it may have sent some or all."
            return [
                SendResult(m.id, Outcome.UNKNOWN, error_code="unreadable_answer", error_message=reason) for m in group
            ]
        return self._bulk_results(group, body)

    def _bulk_results(self, group: list[OutgoingMessage], body: dict) -> list[SendResult]:
        waiting: dict[str, deque[int]] = defaultdict(deque)
        for message in group:
            waiting[_plain_number(message.to)].append(message.id)
        results = []
        for receipt in _list(body.get("message_receipts")):
            message_id = _take(waiting, receipt.get("to"))
            if message_id is None:
                continue
            sid = str(receipt.get("sid") or "")
            outcome = Outcome.ACCEPTED if sid else Outcome.UNKNOWN
            results.append(SendResult(message_id, outcome, provider_message_id=sid))
        for failure in _list(body.get("failed_message_receipts")):
            message_id = _take(waiting, failure.get("to"))
            if message_id is not None:
                results.append(recipient_failure(message_id, failure.get("error_code"), failure.get("error_message")))
        missing = "Twilio's bulk answer did not mention this recipient; it may or may not have been sent."
        for ids in waiting.values():
            results.extend(
                SendResult(i, Outcome.UNKNOWN, error_code="not_in_answer", error_message=missing) for i in ids
            )
        return results

    # --- staff actions ----------------------------------------------------------------------

    # --- looking a message up --------------------------------------------------------------

    def look_up(self, message: OutgoingMessage, provider_message_id: str, since: datetime) -> LookUp:
        """Twilio's record of the message: by its SID when we have one, else the latest messages to
        the number (a page, newest first) that carry the same text and were created since then."""
        try:
            if provider_message_id:
                return self._look_up_by_sid(provider_message_id)
            return self._look_up_by_recipient(message, since)
        except http.TransportError as error:
            return LookUp(None, detail=f"Could not ask Twilio: {error.message}")

    def _get(self, suffix: str, params: dict[str, str] | None = None) -> tuple[requests.Response, dict]:
        auth = (self.account_sid, self.auth_token)
        response = http.request("GET", self.account_url(suffix), params=params, auth=auth, secrets=[self.auth_token])
        return response, http.json_object(response)

    def _look_up_by_sid(self, sid: str) -> LookUp:
        response, body = self._get(f"/Messages/{quote(sid, safe='')}.json")
        if response.status_code == 404:
            return LookUp(False, provider_message_id=sid, detail=f"Twilio has no message {sid}.")
        if response.status_code != 200:
            code, reason = _error_of(response, body)
            return LookUp(None, detail=f"Twilio answered {reason} (error {code}).")
        return _looked_up(body, f"Twilio has {sid}")

    def _look_up_by_recipient(self, message: OutgoingMessage, since: datetime) -> LookUp:
        response, body = self._get("/Messages.json", {"To": self.address(message.to), "PageSize": "50"})
        if response.status_code != 200:
            code, reason = _error_of(response, body)
            return LookUp(None, detail=f"Twilio answered {reason} (error {code}).")
        earliest = since - LOOK_UP_SLACK
        for found in _list(body.get("messages")):
            created = _twilio_time(found.get("date_created"))
            same_text = message.template is not None or str(found.get("body") or "") == message.text
            if same_text and created is not None and created >= earliest:
                return _looked_up(
                    found, f"Twilio has a message to {message.to} with this text, created {created:%H:%M:%S} UTC"
                )
        return LookUp(
            False,
            detail=f"Twilio lists no message to {message.to} with this text created since "
            f"{earliest:%Y-%m-%d %H:%M} UTC (its latest 50 to the number).",
        )

    def check_credentials(self) -> str:
        """Ask Twilio for the account. The answer is told in our own words: nothing of the remote
        body (a name, a message) is shown, only the HTTP status, Twilio's error number and status word."""
        super().check_credentials()
        try:
            response = http.request(
                "GET", self.account_url(), auth=(self.account_sid, self.auth_token), secrets=[self.auth_token]
            )
        except http.TransportError as error:
            raise ChannelError(f"Could not reach Twilio: {error.message}", code="unreachable") from None
        body = http.json_object(response)
        if response.status_code != 200:
            code = _small_number(body.get("code"))
            meaning = CHECK_MEANINGS.get(code or 0, f"Twilio answered HTTP {response.status_code}")
            number = f" (error {code})" if code else ""
            raise ChannelError(f"Twilio refused the credentials: {meaning}{number}.", code=str(code or "auth"))
        status = str(body.get("status") or "active")
        if status != "active":
            word = status if status in ACCOUNT_STATUSES else "not active"
            raise ChannelError(f"The Twilio account {self.account_sid} is {word}.", code=f"account_{word}")
        return f"Twilio accepted the credentials of the account {self.account_sid}, which is active."


# What "check credentials" says for Twilio's refusals: our words, never the remote body's.
CHECK_MEANINGS = {
    20003: "authentication failed: the account SID or the auth token is wrong",
    20404: "no such account",
    20005: "the account is not active",
    20429: "too many requests: try again in a minute",
}
ACCOUNT_STATUSES = {"active", "suspended", "closed"}


def _small_number(value: object) -> int | None:
    """An error number as Twilio gives it (5 digits); anything else is not shown."""
    number = http.as_int(value)
    return number if number is not None and 0 < number < 1_000_000 else None


class TwilioSmsProvider(TwilioProvider):
    code = "twlo"
    label = "Twilio SMS"
    default_rate_limit = 1.0  # a US long code sends about one segment a second


class TwilioWhatsAppProvider(TwilioProvider):
    code = "twlowa"
    label = "Twilio WhatsApp"
    default_rate_limit = 10.0  # Twilio's default for WhatsApp text
    max_media = 1  # WhatsApp carries one media file per message
    campaign_needs_template = True  # a message we start must be an approved template
    lists_templates = True
    # 63003 / 63024: not a WhatsApp user (Meta 131026); 63032: the user is in a Meta experiment.
    not_on_whatsapp_codes = frozenset({"63003", "63024", "131026"})
    sms_fallback_codes = not_on_whatsapp_codes | {"63032"}

    def address(self, number: str) -> str:
        return number if number.startswith("whatsapp:") else f"whatsapp:{number}"

    def list_templates(self) -> list[ListedTemplate]:
        """Every page of the Content API's ContentAndApprovals list, following meta.next_page_url
        (only on the address the credentials were entered for)."""
        try:
            url = self.credentials_may_go_to(self._content_api_base()) + "/v1/ContentAndApprovals"
        except ChannelError as error:
            raise TemplateListUnavailable(error.reason) from None
        params: dict[str, str] | None = {"PageSize": str(CONTENT_PAGE_SIZE)}
        templates: list[ListedTemplate] = []
        for _ in range(CONTENT_MOST_PAGES):
            body = self._content_page(url, params)
            templates.extend(t for t in map(from_twilio, _list(body.get("contents"))) if t is not None)
            meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
            url, params = str(meta.get("next_page_url") or ""), None
            if not url:
                return templates
            if not self.channel.credentials_may_go_to(url):
                raise TemplateListUnavailable(f"Twilio's next page is on another address ({url[:80]}): not followed.")
        raise TemplateListUnavailable(f"Twilio listed more than {CONTENT_MOST_PAGES} pages of templates.")

    def _content_page(self, url: str, params: dict[str, str] | None) -> dict:
        try:
            response = http.request(
                "GET", url, params=params, auth=(self.account_sid, self.auth_token), secrets=[self.auth_token]
            )
        except http.TransportError as error:
            raise TemplateListUnavailable(f"Could not reach Twilio: {error.message}") from None
        body = http.json_object(response)
        if response.status_code == 429:
            raise TemplateListUnavailable("Twilio asked us to slow down (429).", http.retry_after_seconds(response))
        if response.status_code != 200:
            code = _small_number(body.get("code"))
            meaning = CHECK_MEANINGS.get(code or 0, f"Twilio answered HTTP {response.status_code}")
            raise TemplateListUnavailable(
                f"Twilio did not list the templates: {meaning}{f' (error {code})' if code else ''}."
            )
        return body


# --- answers -----------------------------------------------------------------------------------


def classify(message_id: int, response: requests.Response | http.Answer) -> SendResult:
    """One Messages API answer as an outcome; raises ChannelError when the channel itself is wrong."""
    body = http.json_object(response)
    if response.status_code in (200, 201):
        sid = str(body.get("sid") or "")
        if sid:
            return SendResult(message_id, Outcome.ACCEPTED, provider_message_id=sid)
        reason = f"Twilio answered {response.status_code} without a message SID."
        return SendResult(message_id, Outcome.UNKNOWN, error_code="no_sid", error_message=reason)
    code, reason = _error_of(response, body)
    status = response.status_code
    if status == 401 or code in CHANNEL_ERROR_CODES:
        raise ChannelError(f"Twilio refused the channel: {reason} (error {code}).", code=str(code))
    if status == 404:
        raise ChannelError(
            f"Twilio has no such account or address ({reason}): check the account SID and API base URL.",
            code=str(code),
        )
    if status == 429 or status >= 500 or code in TRANSIENT_ERROR_CODES:
        return SendResult(
            message_id,
            Outcome.RETRY,
            error_code=str(code),
            error_message=reason,
            retry_after=http.retry_after_seconds(response),
            throttled=status == 429 or code == 20429,
        )
    if 400 <= status < 500:
        return recipient_failure(message_id, code, reason)
    reason = f"Twilio answered {status} ({reason}); it may or may not have taken the message."
    return SendResult(message_id, Outcome.UNKNOWN, error_code=str(code), error_message=reason)


LOOK_UP_SLACK = timedelta(minutes=5)  # our clock and Twilio's, and the time a request took to arrive


def _looked_up(resource: dict, said: str) -> LookUp:
    """A message resource as a LookUp: its SID, its status and error, in a sentence."""
    status = str(resource.get("status") or "")
    error = f", error {resource['error_code']}" if resource.get("error_code") else ""
    sid = str(resource.get("sid") or "")
    return LookUp(True, status=status, provider_message_id=sid, detail=f"{said} ({sid}): {status}{error}.")


def _twilio_time(value: object) -> datetime | None:
    """Twilio's RFC 2822 times ("Mon, 23 Nov 2026 19:39:00 +0000")."""
    try:
        return parsedate_to_datetime(str(value)) if value else None
    except (TypeError, ValueError):
        return None


def recipient_failure(message_id: int, code: object, reason: object) -> SendResult:
    """A refusal of one recipient: unsubscribed, busy (retry) or permanent."""
    number = http.as_int(code)
    text = str(reason or f"Twilio error {code}")
    if number == UNSUBSCRIBED:
        return SendResult(message_id, Outcome.FAILED, error_code=str(number), error_message=text, opted_out=True)
    outcome = Outcome.RETRY if number in TRANSIENT_ERROR_CODES else Outcome.FAILED
    return SendResult(message_id, outcome, error_code=str(code or ""), error_message=text)


def _error_of(response: requests.Response | http.Answer, body: dict) -> tuple[int | str, str]:
    """Twilio's error code (or the HTTP status) and its message."""
    code = http.as_int(body.get("code")) or response.status_code
    reason = str(body.get("message") or response.reason or f"HTTP {response.status_code}")
    return code, reason


def _list(value: object) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


# --- batches -----------------------------------------------------------------------------------


def _outcome(message_id: int, answer: http.Answer | http.TransportError) -> list[SendResult] | ChannelError:
    """One message's answer as its result, or the ChannelError it showed (for _settle)."""
    if isinstance(answer, http.TransportError):
        return [unanswered(message_id, answer)]
    try:
        return [classify(message_id, answer)]
    except ChannelError as error:
        return error


def _guarded(send: SendOne, batch: list[OutgoingMessage], stop: threading.Event) -> list[SendResult] | ChannelError:
    """Send unless another request of this batch already found the channel broken."""
    if stop.is_set():
        reason = "Not sent: Twilio refused the channel on another message of the same batch."
        return [SendResult(m.id, Outcome.RETRY, error_code="channel", error_message=reason) for m in batch]
    try:
        return send(batch)
    except ChannelError as error:
        stop.set()
        return error


def _settle(batches: list[list[OutgoingMessage]], outcomes: list[list[SendResult] | ChannelError]) -> list[SendResult]:
    """The results, or the ChannelError when no message of the batch can have gone.

    When some messages did go before Twilio refused the channel (credentials changed mid-batch),
    raising would put them back in the queue and send them twice: keep them, retry the others,
    and let the next batch pause the channel.
    """
    errors = [o for o in outcomes if isinstance(o, ChannelError)]
    results = [r for o in outcomes if not isinstance(o, ChannelError) for r in o]
    if not errors:
        return results
    if not any(r.outcome in (Outcome.ACCEPTED, Outcome.UNKNOWN) for r in results):
        raise errors[0]
    for batch, outcome in zip(batches, outcomes, strict=True):
        if isinstance(outcome, ChannelError):
            results.extend(
                SendResult(m.id, Outcome.RETRY, error_code=outcome.code, error_message=outcome.reason) for m in batch
            )
    return results


def _same_shape_groups(messages: list[OutgoingMessage]) -> list[list[OutgoingMessage]]:
    """A 1:Many request has one template / media for all: group messages that share them."""
    groups: dict[tuple, list[OutgoingMessage]] = defaultdict(list)
    for message in messages:
        template_id = (message.template or {}).get("id")
        groups[(template_id, () if template_id else message.media_urls)].append(message)
    return list(groups.values())


def _plain_number(address: object) -> str:
    return str(address or "").removeprefix("whatsapp:")


def _take(waiting: dict[str, deque[int]], address: object) -> int | None:
    queue = waiting.get(_plain_number(address))
    return queue.popleft() if queue else None


# --- templates ---------------------------------------------------------------------------------


def template_problems(template: object) -> list[Problem]:
    """What Twilio's Content API would refuse about a template (its variable count is the base's rule)."""
    if not isinstance(template, dict):
        return [Problem("template", 'must be an object {"id": "HX...", "variables": {...}}.')]
    problems = []
    content_sid = template.get("id")
    if not isinstance(content_sid, str) or not CONTENT_SID.match(content_sid):
        problems.append(
            Problem(
                "template.id", f"{content_sid!r} is not a Twilio Content SID (HX followed by 32 hexadecimal digits)."
            )
        )
    variables = template.get("variables") or {}
    if not isinstance(variables, dict):
        problems.append(Problem("template.variables", f"must be an object of values, not {type(variables).__name__}."))
        return problems
    for name, value in variables.items():
        if isinstance(value, dict | list):
            problems.append(
                Problem(f"template.variables.{name}", f"must be text or a number, not {type(value).__name__}.")
            )
    return problems


def twilio_length(text: str) -> int:
    """The length Twilio's 1,600-character limit counts: UTF-16 code units (a character outside the
    Basic Multilingual Plane, such as most emoji, is two), not Python's code points."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _template_variables(template: dict) -> dict[str, str]:
    """Content variables as Twilio wants them: every value a string."""
    variables = template.get("variables") or {}
    return {str(name): "" if value is None else str(value) for name, value in variables.items()}
