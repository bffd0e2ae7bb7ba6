"""A local Twilio: the Messages API, the 1:Many bulk endpoint and the account fetch, on loopback.

It checks what Twilio checks (Basic auth against one account, the form fields and their limits),
answers in Twilio's shapes (201 with an SM... sid and status "queued"; errors as
{"code", "message", "more_info", "status"}), and posts signed status callbacks back (sent, then
delivered) like the real one. Tests inject errors by number; `make run` uses it for its demo.

    python -m providers.twilio.fake --port 8101 --account-sid AC... --auth-token ...
"""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

import requests

from providers.fakes.replies import DemoClicks, DemoReplies, add_reply_options
from providers.fakes.server import (
    Behaviour,
    FakeProvider,
    FakeRequest,
    FakeResponse,
    Route,
    behaviour_from,
    bulk_answer,
    command_line,
    serve_until_stopped,
)
from providers.fakes.templates import DEMO_TWILIO_CONTENT
from providers.fakes.whatsapp import NotOnWhatsApp, add_not_on_whatsapp_options, not_on_whatsapp_from
from providers.sample_replies import twilio_reply
from providers.twilio.signature import compute_signature

log = logging.getLogger(__name__)

CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
# Every field the Messages API takes (the OpenAPI excerpt): anything else is a typo in our code.
MESSAGE_FIELDS = {
    "To", "From", "MessagingServiceSid", "Body", "MediaUrl", "ContentSid", "ContentVariables", "StatusCallback",
    "ApplicationSid", "MaxPrice", "ProvideFeedback", "Attempt", "ValidityPeriod", "ForceDelivery",
    "ContentRetention", "AddressRetention", "SmartEncoded", "PersistentAction", "TrafficType", "ShortenUrls",
    "ScheduleType", "SendAt", "SendAsMms", "RiskCheck", "FallbackFrom",
}  # fmt: skip
MAX_BULK_MESSAGES = 10_000
NOT_ON_WHATSAPP_CODE = "63003"  # "Channel could not find To address": the recipient is not on WhatsApp
MESSAGE_PATH = re.compile(r"/2010-04-01/Accounts/(?P<account>AC\w+)/Messages/(?P<sid>\w+)\.json")


class TwilioError(Exception):
    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self, headers: dict[str, str] | None = None) -> FakeResponse:
        body = {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }
        return FakeResponse(self.status, body, headers or {})


class FakeTwilio(FakeProvider):
    """One Twilio account. Sets of numbers (E.164, without "whatsapp:") make answers go wrong on purpose."""

    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, behaviour: Behaviour | None = None):
        super().__init__(behaviour)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.reset(behaviour)

    def reset(self, behaviour: Behaviour | None = None) -> None:
        """Forget everything received and injected (a server reused across tests starts clean)."""
        self.forget(behaviour)
        self.account_status = "active"
        self.invalid_numbers: set[str] = set()  # 400, 21211
        self.unsubscribed: set[str] = set()  # 400, 21610
        self.undeliverable: set[str] = set()  # accepted, then "undelivered" with 30003
        self.not_on_whatsapp = NotOnWhatsApp()  # WhatsApp: accepted, then "failed" with 63003
        self.errors: dict[str, tuple[int, int, str]] = {}  # number -> (HTTP status, code, message)
        self.send_callbacks = True
        self.messages: dict[str, dict] = {}  # sid -> the message as created
        self.callbacks: list[tuple[str, dict[str, str], int]] = []  # (url, params, our answer's status)
        self.inbound_urls: dict[str, str] = {}  # our number -> its inbound webhook (for demo replies)
        self.replies = DemoReplies()  # nobody replies unless told to
        self.clicks = DemoClicks()  # nor taps a link
        self.tapped: list[tuple[str, int]] = []  # (short link, the answer's status): the demo's taps
        self.content: list[dict] = [json.loads(json.dumps(item)) for item in DEMO_TWILIO_CONTENT]  # its templates
        self.content_refusal: FakeResponse | None = None  # answered instead of the list (a 429, say)

    def routes(self) -> dict[tuple[str, str], Route]:
        account = f"/2010-04-01/Accounts/{self.account_sid}"
        return {
            ("POST", f"{account}/Messages.json"): self._authenticated(self.create_message),
            ("GET", f"{account}/Messages.json"): self._authenticated(self.list_messages),
            ("GET", f"{account}.json"): self._authenticated(self.fetch_account),
            ("POST", "/v1/Messages"): self._authenticated(self.create_messages_in_bulk),
            ("GET", "/v1/ContentAndApprovals"): self._authenticated(self.list_content),
        }

    # --- auth -------------------------------------------------------------------------------

    def _authenticated(self, route: Route) -> Route:
        def checked(request: FakeRequest) -> FakeResponse:
            if not self._credentials_match(request.headers):
                challenge = {"WWW-Authenticate": 'Basic realm="Twilio API"'}
                return TwilioError(401, 20003, "Authenticate").response(challenge)
            try:
                return route(request)
            except TwilioError as error:
                return error.response()

        return checked

    def _credentials_match(self, headers: dict[str, str]) -> bool:
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        if not value.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        except ValueError:
            return False
        return (user, password) == (self.account_sid, self.auth_token)

    # --- Messages.json ----------------------------------------------------------------------

    def create_message(self, request: FakeRequest) -> FakeResponse:
        if self.over_rate():
            return TwilioError(429, 20429, "Too Many Requests").response({"Retry-After": "1"})
        form = request.form
        unknown = sorted(set(form) - MESSAGE_FIELDS)
        if unknown:
            raise TwilioError(400, 20001, f"Unknown parameters: {', '.join(unknown)}")
        fields = {name: values[-1] for name, values in form.items()}
        media = form.get("MediaUrl", [])
        self._check_addresses(fields.get("To", ""), fields.get("From", ""), fields.get("MessagingServiceSid", ""))
        self._check_content(fields.get("Body", ""), media, fields.get("ContentSid", ""))
        if "ContentVariables" in fields:
            _check_content_variables(fields["ContentVariables"])
        self._check_recipient(fields["To"])
        message = self._create(fields, media)
        return FakeResponse(201, message)

    def _check_addresses(self, to: str, sender: str, service: str) -> None:
        if not to:
            raise TwilioError(400, 21604, "A 'To' phone number is required.")
        if bool(sender) == bool(service):
            raise TwilioError(400, 21603, "Give exactly one of 'From' and 'MessagingServiceSid'.")
        if service and not SERVICE_SID.match(service):
            raise TwilioError(400, 21701, f"The Messaging Service Sid {service} is invalid.")
        if sender and to.startswith("whatsapp:") != sender.startswith("whatsapp:"):
            raise TwilioError(400, 21910, "Invalid From and To pair. From and To should be of the same channel.")
        if not re.fullmatch(r"(whatsapp:)?\+[1-9]\d{6,14}", to):
            raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to}")

    def _check_content(self, body: str, media: list[str], content_sid: str) -> None:
        if not (body or media or content_sid):
            raise TwilioError(400, 21602, "Message body is required.")
        if len(body) > 1600:
            raise TwilioError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if len(media) > 10:
            raise TwilioError(400, 21623, "Too many media URLs: at most 10 a message.")
        if any(not url.startswith(("http://", "https://")) for url in media):
            raise TwilioError(400, 21620, "Invalid media URL(s).")
        if content_sid and not CONTENT_SID.match(content_sid):
            raise TwilioError(400, 21655, f"The ContentSid {content_sid} is invalid.")

    def _check_recipient(self, to: str) -> None:
        number = to.removeprefix("whatsapp:")
        if number in self.errors:
            raise TwilioError(*self.errors[number])
        if number in self.invalid_numbers:
            raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {number}")
        if number in self.unsubscribed:
            raise TwilioError(400, 21610, "Attempt to send to unsubscribed recipient")

    def _create(self, fields: dict[str, str], media: list[str]) -> dict[str, Any]:
        sid = ("MM" if media else "SM") + uuid.uuid4().hex
        now = formatdate(usegmt=True)
        body = fields.get("Body", "")
        message = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": fields.get("From") or None,
            "messaging_service_sid": fields.get("MessagingServiceSid") or None,
            "num_media": str(len(media)),
            "num_segments": str(_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            # A Messaging Service first "accepts" a message, then picks a sender and queues it.
            "status": "accepted" if fields.get("MessagingServiceSid") else "queued",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
            "to": fields["To"],
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        with self.lock:
            self.messages[sid] = {**message, "media": media, "fields": fields}
        if fields.get("StatusCallback"):
            got = f"{body} {fields.get('ContentVariables', '')}"  # a template's links are in its values
            self.report_later(fields["StatusCallback"], sid, fields["To"], fields.get("From", ""), got)
        return message

    def handle(self, request: FakeRequest) -> FakeResponse:
        """GET Messages/{Sid}.json has the SID in its path: not one of the fixed routes."""
        match = MESSAGE_PATH.fullmatch(request.path)
        if request.method == "GET" and match and match["account"] == self.account_sid:
            with self.lock:
                self.received.append(request)
            return self._authenticated(lambda _: self.fetch_message(match["sid"]))(request)
        return super().handle(request)

    def fetch_message(self, sid: str) -> FakeResponse:
        with self.lock:
            message = self.messages.get(sid)
        if message is None:
            raise TwilioError(404, 20404, f"The requested resource /Messages/{sid}.json was not found")
        return FakeResponse(200, _resource(message))

    def list_messages(self, request: FakeRequest) -> FakeResponse:
        """Newest first, filtered by To (and From), one page of PageSize (50 by default)."""
        to, sender = (request.query.get(name, [""])[-1] for name in ("To", "From"))
        size = int(request.query.get("PageSize", ["50"])[-1])
        with self.lock:
            found = [m for m in reversed(self.messages.values()) if (not to or m["to"] == to)]
        found = [m for m in found if not sender or m["from"] == sender][:size]
        return FakeResponse(200, {"messages": [_resource(m) for m in found], "page": 0, "page_size": size})

    # --- 1:Many bulk endpoint ---------------------------------------------------------------

    def create_messages_in_bulk(self, request: FakeRequest) -> FakeResponse:
        try:
            payload = request.json()
        except ValueError:
            raise TwilioError(400, 20001, "The body is not JSON.") from None
        items = payload.get("Messages") if isinstance(payload, dict) else None
        if not isinstance(items, list) or not items:
            raise TwilioError(400, 20001, "Messages must be a non-empty array.")
        if len(items) > MAX_BULK_MESSAGES:
            raise TwilioError(400, 20001, f"At most {MAX_BULK_MESSAGES} messages a request.")
        if self.over_rate(len(items)):
            return TwilioError(429, 20429, "Too Many Requests").response({"Retry-After": "1"})
        receipts, failures = [], []
        for item in items:
            try:
                receipts.append(self._create_one_of_bulk(payload, item))
            except TwilioError as error:
                failures.append({"to": item.get("To"), "error_code": error.code, "error_message": error.message})
        answer = {
            "total_message_count": len(items),
            "success_count": len(receipts),
            "error_count": len(failures),
            "message_receipts": receipts,
            "failed_message_receipts": failures,
        }
        return bulk_answer(self.behaviour, FakeResponse(200, answer))

    def _create_one_of_bulk(self, payload: dict, item: dict) -> dict[str, str]:
        to = str(item.get("To") or "")
        sender, service = str(payload.get("From") or ""), str(payload.get("MessagingServiceSid") or "")
        self._check_addresses(to, sender, service)
        body = str(item.get("Body") or payload.get("Body") or "")
        media = list(payload.get("MediaUrl") or [])
        self._check_content(body, media, str(payload.get("ContentSid") or ""))
        self._check_recipient(to)
        fields = {"To": to, "From": sender, "MessagingServiceSid": service, "Body": body}
        fields.update({k: str(payload[k]) for k in ("ContentSid", "StatusCallback") if payload.get(k)})
        if item.get("ContentVariables") is not None:
            fields["ContentVariables"] = json.dumps(item["ContentVariables"])
        message = self._create(fields, media)
        return {"to": to, "sid": message["sid"]}

    # --- account ----------------------------------------------------------------------------

    def fetch_account(self, request: FakeRequest) -> FakeResponse:
        now = formatdate(usegmt=True)
        return FakeResponse(
            200,
            {
                "auth_token": self.auth_token,  # the real resource carries it too: callers must not show it
                "date_created": now,
                "date_updated": now,
                "friendly_name": "Fake Twilio account",
                "owner_account_sid": self.account_sid,
                "sid": self.account_sid,
                "status": self.account_status,
                "subresource_uris": {},
                "type": "Full",
                "uri": f"/2010-04-01/Accounts/{self.account_sid}.json",
            },
        )

    # --- the Content API (WhatsApp templates) -----------------------------------------------

    def list_content(self, request: FakeRequest) -> FakeResponse:
        """GET /v1/ContentAndApprovals: pages of PageSize (≤ 1000), PageToken = the next index."""
        if self.content_refusal is not None:
            return self.content_refusal
        size = _query_int(request, "PageSize", 50)
        start = _query_int(request, "PageToken", 0)
        if not 1 <= size <= 1000:
            raise TwilioError(400, 20001, "PageSize must be between 1 and 1000")
        with self.lock:
            items = self.content[start : start + size]
            more = start + size < len(self.content)
        url = f"{self.base_url}/v1/ContentAndApprovals"
        page = start // size
        next_page = f"{url}?PageSize={size}&Page={page + 1}&PageToken={start + size}" if more else None
        meta = {
            "page": page,
            "page_size": size,
            "first_page_url": f"{url}?PageSize={size}&Page=0",
            "previous_page_url": None,
            "url": f"{url}?PageSize={size}&Page={page}",
            "next_page_url": next_page,
            "key": "contents",
        }
        return FakeResponse(200, {"contents": items, "meta": meta})

    # --- calls back -------------------------------------------------------------------------

    def report_later(self, url: str, sid: str, to: str, sender: str, text: str = "") -> None:
        """Status callbacks for a new message, in order: sent, then delivered (or undelivered)."""
        if not self.send_callbacks:
            return
        common = {"AccountSid": self.account_sid, "ApiVersion": "2010-04-01", "MessageSid": sid, "SmsSid": sid}
        common.update({"To": to, "From": sender or "+15005550006"})
        steps = [{**common, "MessageStatus": "sent", "SmsStatus": "sent"}]
        taps: list[str] = []
        if to.startswith("whatsapp:") and to in self.not_on_whatsapp:
            failed = {"MessageStatus": "failed", "SmsStatus": "failed", "ErrorCode": NOT_ON_WHATSAPP_CODE}
            steps = [{**common, **failed}]
            reply = None
        elif to.removeprefix("whatsapp:") in self.undeliverable:
            steps.append({**common, "MessageStatus": "undelivered", "SmsStatus": "undelivered", "ErrorCode": "30003"})
            reply = None
        else:
            steps.append({**common, "MessageStatus": "delivered", "SmsStatus": "delivered"})
            reply = self.demo_reply(to, sender)
            taps = self.clicks.pick(text)

        def report() -> None:
            for params in steps:
                self.post_signed(url, params)
            if taps:
                time.sleep(self.clicks.delay)
                self.tapped.extend((link, self.clicks.click(link)) for link in taps)
            if reply:
                time.sleep(self.replies.delay)
                reply()

        self._in_background(report)

    def demo_reply(self, recipient: str, our_number: str) -> Callable[[], int] | None:
        """Some recipients answer (``replies``), on the inbound webhook of the number they got it from."""
        url = self.inbound_urls.get(our_number.removeprefix("whatsapp:"))
        text = self.replies.pick() if url else None
        if not text:
            return None
        return lambda: self.send_inbound(url, recipient, text, to=our_number)

    def post_signed(self, url: str, params: dict[str, str]) -> int:
        """POST form ``params`` to ``url`` signed as Twilio signs; returns the answer's status (0 if none)."""
        headers = {"X-Twilio-Signature": compute_signature(self.auth_token, url, params)}
        try:
            status = requests.post(url, data=params, headers=headers, timeout=10).status_code
        except requests.RequestException as error:
            log.info("twilio callback to %s failed: %s", url, error)
            status = 0
        with self.lock:
            self.callbacks.append((url, params, status))
        return status

    def send_inbound(self, url: str, sender: str, body: str, opt_out_type: str = "", to: str = "+15005550006") -> int:
        """A recipient's reply, posted to our inbound webhook now, as Twilio would."""
        params = twilio_reply(url, self.auth_token, sender=sender, to=to, text=body, account_sid=self.account_sid).form
        if opt_out_type:
            params["OptOutType"] = opt_out_type
        return self.post_signed(url, params)

    def _in_background(self, work: Callable[[], object]) -> None:
        def run() -> None:
            self.wait_to_call_back()
            time.sleep(self.behaviour.callback_delay)
            work()

        threading.Thread(target=run, daemon=True).start()


def _query_int(request: FakeRequest, name: str, default: int) -> int:
    raw = (request.query.get(name) or [str(default)])[0]
    if not raw.isdigit():
        raise TwilioError(400, 20001, f"{name} must be a whole number")
    return int(raw)


def _number_urls(parser, pairs: list[str]) -> dict[str, str]:
    urls = {}
    for pair in pairs:
        number, _, url = pair.partition("=")
        if not number.startswith("+") or not url.startswith(("http://", "https://")):
            parser.error(f"--inbound-url: {pair!r} is not NUMBER=URL, e.g. +15005550006=http://127.0.0.1:8000/...")
        urls[number] = url
    return urls


def _resource(message: dict) -> dict:
    """A stored message as the API shows it (without what the fake keeps for tests)."""
    return {key: value for key, value in message.items() if key not in ("media", "fields")}


def _check_content_variables(raw: str) -> None:
    try:
        variables = json.loads(raw)
    except ValueError:
        raise TwilioError(400, 21656, "The ContentVariables Parameter is invalid: not JSON.") from None
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise TwilioError(400, 21656, "The ContentVariables Parameter is invalid: an object of strings is required.")


def _segments(body: str) -> int:
    """Rough SMS segment count: GSM-7 text 160 (153 when split), anything else 70 (67)."""
    single, part = (160, 153) if body.isascii() else (70, 67)
    return 1 if len(body) <= single else math.ceil(len(body) / part)


def main(argv: list[str] | None = None) -> None:
    parser = command_line("A local fake of Twilio's messaging API.", port=8101)
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--invalid-number", action="append", default=[], help="answer 21211 for this number")
    parser.add_argument("--unsubscribed", action="append", default=[], help="answer 21610 for this number")
    parser.add_argument(
        "--inbound-url", action="append", default=[], help="NUMBER=URL: where replies to our NUMBER go (demo)"
    )
    add_reply_options(parser)
    add_not_on_whatsapp_options(parser)
    parser.set_defaults(callback_delay=0.5)
    args = parser.parse_args(argv)
    fake = FakeTwilio(args.account_sid, args.auth_token, behaviour_from(args))
    fake.inbound_urls.update(_number_urls(parser, args.inbound_url))
    fake.replies = DemoReplies(args.reply_rate, args.reply_seed)
    fake.clicks = DemoClicks(args.click_rate, args.click_seed)
    fake.invalid_numbers.update(args.invalid_number)
    fake.unsubscribed.update(args.unsubscribed)
    fake.not_on_whatsapp = not_on_whatsapp_from(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    serve_until_stopped(fake, args, f"Fake Twilio for account {args.account_sid} on {{url}}")


if __name__ == "__main__":
    main()
