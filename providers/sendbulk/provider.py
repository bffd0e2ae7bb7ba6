"""The "sendbulk" SMS gateway (provider code ``sendbulk``): many messages per JSON request.

A white-label platform run by many resellers, each on its own host, so every channel names its
API base URL (e.g. https://sms.example.co.ke/api/services). Request and answer shapes are below
and in the loopback fake (fake.py); deployments differ in details, so answers are read tolerantly: both
``response-code`` and the misspelt ``respose-code``, codes as numbers or strings, errors wrapped
per message or unwrapped for the whole request.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import requests

from providers import http
from providers.base import ChannelError, Outcome, OutgoingMessage, Problem, Provider, SendResult
from providers.events import DeliveryState

log = logging.getLogger(__name__)
Status = DeliveryState

SUCCESS = "200"
TOO_MANY = "1012"  # too many messages in smslist: split the request and try again
# The channel itself is wrong (no credit, bad or missing credentials): pause it for staff.
# HTTP 401/403/404 join them: a refused key, or a base URL that is not a sendbulk API.
CHANNEL_CODES = {"1004", "1006", "4091", "4092", "4093", "http_401", "http_403", "http_404"}
# The gateway had a passing problem: try again later (4090 says when: after five minutes).
RETRY_CODES = {"1005", "1007", "4090"}
RETRY_AFTER = {"4090": 300.0}
NUMBER = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,4})?")  # a balance, shown only when it is one
MEANINGS = {
    "1001": "Invalid sender id",
    "1002": "Network not allowed",
    "1003": "Invalid mobile number",
    "1004": "Low bulk credits",
    "1005": "Internal system error",
    "1006": "Invalid credentials",
    "1007": "Internal system error",
    "1008": "No delivery report",
    "1009": "Unsupported data type",
    "1010": "Unsupported request type",
    "1012": "Too many messages in smslist",
    "4090": "Internal error, try again after 5 minutes",
    "4091": "No partner id is set",
    "4092": "No api key found",
    "4093": "Details not found",
}

# Delivery descriptions (getdlr "delivery-description", push "description"), compared without
# spaces, underscores or case. Wording varies between the networks behind the gateway, so a
# failure is also recognised by its words; anything unrecognised leaves the message as sent.
DELIVERED = {"deliveredtoterminal", "delivered", "delivrd"}
STILL_GOING = {"messagewaiting", "deliveredtonetwork", "deliveryuncertain", "pending", "sent", "submitted", "queued"}
FAILURE_WORDS = ("impossible", "fail", "reject", "expired", "blacklist", "absent", "undeliv", "invalid", "barred")


@dataclass(frozen=True)
class DeliveryReport:
    """One getdlr answer: the state to record (None = nothing final yet) and the gateway's words."""

    status: DeliveryState | None
    description: str = ""
    code: str = ""  # the gateway's delivery-status, kept as the error code of an undelivered message


class SendbulkProvider(Provider):
    code = "sendbulk"
    label = "Sendbulk SMS gateway"
    credential_fields = {"partner_id": "Partner ID", "apikey": "API key"}
    webhooks = {"dlr": "Delivery reports"}
    webhook_setup = (
        "In the gateway's account settings (or by asking its support), set the delivery-report (DLR) "
        "URL to the address above, as an HTTP POST. Without it, messages are never marked delivered.",
        "Replies: the sendbulk gateways document no way to pass on replies, so this channel receives none.",
    )
    # Newer deployments take 1,000 per request, older ones 20: set the channel's batch size to
    # match (a too-large batch still works: the gateway answers 1012 and we split it).
    max_batch_size = 1000
    supports_media = False
    # clientsmsid carries our message id, but nothing published says the gateway refuses a second
    # request with the same clientsmsid, so a message whose fate is unknown is not resent.
    deduplicates_by_our_id = False
    default_rate_limit = 50.0
    # The largest batch this gateway took after answering 1012 (0 = none refused yet).
    _fitting_size: int = 0

    # --- configuration -----------------------------------------------------------------------

    def base_url(self) -> str:
        base = (self.channel.api_base_url or "").strip().rstrip("/")
        if not base:
            raise ChannelError(
                "api_base_url: a sendbulk channel needs its reseller's API address, "
                "e.g. https://sms.example.com/api/services.",
                code="missing_api_base_url",
            )
        return self.credentials_may_go_to(base)

    def credential_urls(self) -> list[str]:
        return [(self.channel.api_base_url or "").strip()]

    def credentials_body(self) -> dict[str, str]:
        creds = self.channel.credentials or {}
        return {"partnerID": str(creds.get("partner_id", "")).strip(), "apikey": str(creds.get("apikey", "")).strip()}

    def _secrets(self) -> list[str]:
        return [self.credentials_body()["apikey"]]

    def problems(self, message: OutgoingMessage) -> list[Problem]:
        problems = super().problems(message)
        if message.template:
            problems.append(Problem("template", "sendbulk channels send plain SMS text; templates are for WhatsApp."))
        elif message.text and not any(character > " " for character in message.text):  # spaces, controls
            problems.append(Problem("text", "an SMS needs text, not only spaces."))
        return problems

    # --- sending -----------------------------------------------------------------------------

    def send_batch(self, messages: list[OutgoingMessage]) -> list[SendResult]:
        url = self.base_url() + "/sendbulk/"
        if not self.channel.sender.strip():
            raise ChannelError("sender: a sendbulk channel needs its sender id (shortcode).", code="missing_sender")
        results = self._send_splitting(url, messages)
        refused = [r for r in results if r.error_code in CHANNEL_CODES]
        if refused and not any(r.outcome in (Outcome.ACCEPTED, Outcome.UNKNOWN) for r in results):
            raise ChannelError(refused[0].error_message, code=refused[0].error_code)
        # Some went: pausing now would put them back in the queue and send them twice. The refused
        # ones wait and retry; the next batch, refused whole, pauses the channel.
        return results

    def payload(self, messages: list[OutgoingMessage]) -> dict:
        credentials = self.credentials_body()  # the same in every item: the gateway uses the first's
        items = [
            {
                **credentials,
                "pass_type": "plain",
                "clientsmsid": message.id,
                "mobile": message.to.removeprefix("+"),
                "message": message.text,
                "shortcode": self.channel.sender.strip(),
            }
            for message in messages
        ]
        return {"count": len(items), "smslist": items}

    def _send_splitting(self, url: str, messages: list[OutgoingMessage]) -> list[SendResult]:
        """Send, halving the request each time the gateway says it holds too many (1012)."""
        size = self._fitting_size
        if size and len(messages) > size:
            return [
                r
                for start in range(0, len(messages), size)
                for r in self._send_splitting(url, messages[start : start + size])
            ]
        results = self._post(url, messages)
        if results is not None:
            return results
        if len(messages) == 1:
            reason = "The gateway refused even a single message as too many (1012)."
            return [SendResult(messages[0].id, Outcome.RETRY, error_code=TOO_MANY, error_message=reason)]
        half = (len(messages) + 1) // 2
        self._fitting_size = half
        log.warning(
            "sendbulk channel %s refused %d messages a request (1012): trying %d; set the channel's batch size",
            self.channel.pk,
            len(messages),
            half,
        )
        return self._send_splitting(url, messages[:half]) + self._send_splitting(url, messages[half:])

    def _post(self, url: str, messages: list[OutgoingMessage]) -> list[SendResult] | None:
        """The results of one request, or None when the gateway wants fewer messages (1012)."""
        try:
            response = http.request("POST", url, json=self.payload(messages), secrets=self._secrets())
        except http.NotSent as error:
            return same_for_all(messages, Outcome.RETRY, "not_sent", error.message)
        except http.NoAnswer as error:
            return same_for_all(messages, Outcome.UNKNOWN, "no_answer", error.message)
        return read_answer(messages, response)

    # --- staff actions and delivery reports ---------------------------------------------------

    def check_credentials(self) -> str:
        super().check_credentials()  # names missing credentials
        body = self._ask("/getbalance/", {})
        balance = next((body[k] for k in ("credit", "balance", "Balance", "credits") if k in body), None)
        if balance is None:
            return "The gateway accepted the credentials (it did not say the balance)."
        if not NUMBER.fullmatch(str(balance).strip()):
            return "The gateway accepted the credentials (its balance was not a number)."
        return f"Balance: {str(balance).strip()}"

    def delivery_report(self, provider_message_id: str) -> DeliveryReport:
        """Ask the gateway what became of one message; raises ChannelError if it refuses us."""
        body = self._ask("/getdlr/", {"messageID": provider_message_id})
        description = str(body.get("delivery-description") or "")
        if not description and isinstance(body.get("delivery-status"), str):
            description = body["delivery-status"]
        return DeliveryReport(delivery_status(description), description, str(body.get("delivery-status") or ""))

    def _ask(self, path: str, fields: dict[str, str]) -> dict:
        """POST a getbalance/getdlr style request; the answer's first record, or ChannelError."""
        url = self.base_url() + path
        try:
            response = http.request("POST", url, json={**self.credentials_body(), **fields}, secrets=self._secrets())
        except http.TransportError as error:
            raise ChannelError(f"Could not reach the gateway: {error.message}", code="unreachable") from None
        body = http.json_object(response)
        if isinstance(body.get("responses"), list) and body["responses"] and isinstance(body["responses"][0], dict):
            body = body["responses"][0]  # some deployments wrap even single answers
        code = response_code(body) or f"http_{response.status_code}"
        if code in CHANNEL_CODES or not 200 <= response.status_code < 300:  # a redirect is not an answer
            fallback = f"HTTP {response.status_code}" if code.startswith("http_") else "an unknown code"
            meaning = MEANINGS.get(code, fallback)  # our words: the body is not shown
            raise ChannelError(f"The gateway refused the request: {meaning} ({code[:20]}).", code=code[:20])
        return body


# --- reading answers -----------------------------------------------------------------------------


def read_answer(messages: list[OutgoingMessage], response: requests.Response) -> list[SendResult] | None:
    """Every message's outcome from one sendbulk answer; None when it says "too many" (1012)."""
    if response.status_code == 429 or response.status_code >= 500:
        return busy_or_broken(messages, response)
    body = http.json_object(response)
    items = body.get("responses")
    if isinstance(items, list):
        if items and all(isinstance(i, dict) and response_code(i) == TOO_MANY for i in items):
            return None
        return per_message_results(messages, items)
    code = response_code(body)
    if code == TOO_MANY:
        return None
    if code is not None and code != SUCCESS:  # an unwrapped error: it applies to the whole request
        return [result_for_code(m.id, code, body) for m in messages]
    return unreadable_answer(messages, response)


def busy_or_broken(messages: list[OutgoingMessage], response: requests.Response) -> list[SendResult]:
    """429 is a refusal before acting: send again later. A 5xx may come after the gateway sent
    some or all of the batch: unknown, never resent blindly."""
    status = response.status_code
    if status == 429:
        reason = f"The gateway answered HTTP {status}."
        return same_for_all(messages, Outcome.RETRY, f"http_{status}", reason, http.retry_after_seconds(response))
    reason = f"The gateway answered HTTP {status}; the messages may have been sent."
    return same_for_all(messages, Outcome.UNKNOWN, f"http_{status}", reason)


def unreadable_answer(messages: list[OutgoingMessage], response: requests.Response) -> list[SendResult]:
    """An answer without response codes: judge by the HTTP status alone."""
    status = response.status_code
    if status in (401, 403, 404):
        reason = f"The gateway answered HTTP {status}: check the channel's API base URL and credentials."
        return same_for_all(messages, Outcome.RETRY, f"http_{status}", reason)
    if 400 <= status < 500:
        reason = f"The gateway refused the request: {response.text[:300]}"
        return same_for_all(messages, Outcome.FAILED, f"http_{status}", reason)
    reason = "The gateway's answer did not say what became of the messages; they may have been sent."
    return same_for_all(messages, Outcome.UNKNOWN, "unreadable_answer", reason)


def per_message_results(messages: list[OutgoingMessage], items: list) -> list[SendResult]:
    """Match answers to messages by clientsmsid (our id), else by position."""
    ours = {m.id for m in messages}
    by_id: dict[int, dict] = {}
    for item in (i for i in items if isinstance(i, dict)):
        echoed = http.as_int(item.get("clientsmsid"))
        if echoed in ours:
            by_id[echoed] = item
    if not by_id and len(items) == len(messages):
        by_id = {m.id: item for m, item in zip(messages, items, strict=True) if isinstance(item, dict)}
    missing = "The gateway's answer did not mention this message; it may or may not have been sent."
    return [
        result_for_code(m.id, response_code(by_id[m.id]), by_id[m.id])
        if m.id in by_id
        else SendResult(m.id, Outcome.UNKNOWN, error_code="not_in_answer", error_message=missing)
        for m in messages
    ]


def result_for_code(message_id: int, code: str | None, item: dict) -> SendResult:
    """One message's outcome from its response code."""
    if code == SUCCESS:
        provider_id = str(item.get("messageid") or item.get("messageId") or "")
        return SendResult(message_id, Outcome.ACCEPTED, provider_message_id=provider_id)
    if code is None:
        reason = "The gateway's answer for this message had no response code; it may have been sent."
        return SendResult(message_id, Outcome.UNKNOWN, error_code="no_code", error_message=reason)
    reason = describe(code, item)
    if code in CHANNEL_CODES:
        return SendResult(
            message_id,
            Outcome.RETRY,
            error_code=code,
            error_message=f"The gateway refused the channel: {reason} ({code}).",
        )
    if code in RETRY_CODES:
        return SendResult(
            message_id, Outcome.RETRY, error_code=code, error_message=reason, retry_after=RETRY_AFTER.get(code)
        )
    return SendResult(message_id, Outcome.FAILED, error_code=code, error_message=reason)


def same_for_all(
    messages: list[OutgoingMessage], outcome: Outcome, code: str, reason: str, retry_after: float | None = None
) -> list[SendResult]:
    return [SendResult(m.id, outcome, error_code=code, error_message=reason, retry_after=retry_after) for m in messages]


def response_code(body: dict) -> str | None:
    """The response code as text, under either spelling; None when there is none."""
    value = body.get("response-code", body.get("respose-code"))
    number = http.as_int(value)
    return str(number) if number is not None else None


def describe(code: str, body: dict) -> str:
    return str(
        body.get("response-description") or body.get("respose-description") or MEANINGS.get(code, "Unknown code")
    )


def delivery_status(description: str) -> DeliveryState | None:
    """Our message state for a delivery description; None while it is not final or not understood."""
    word = description.replace(" ", "").replace("_", "").lower()
    if not word or word in STILL_GOING:
        return None
    if word in DELIVERED:
        return Status.DELIVERED
    if any(failure in word for failure in FAILURE_WORDS):
        return Status.UNDELIVERED
    log.info("sendbulk delivery description %r not understood; the message stays sent", description)
    return None
