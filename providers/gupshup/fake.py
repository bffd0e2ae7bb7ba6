"""A local stand-in for Gupshup's WhatsApp API, for the tests and the `make run` demo.

It checks what the real one checks (the apikey header, the form fields, the JSON inside them),
answers in Gupshup's shapes, and posts message events (v2 by default, or v3) back to the callback
URL it was given, like the URL set in Gupshup's dashboard.

    python -m providers.gupshup.fake --port 8102 --apikey demo-key --app-name demo-app \
        --callback-url http://127.0.0.1:8000/webhooks/gswa/<webhook_token>/events
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field

import requests

from providers.fakes.replies import DemoClicks, DemoReplies, add_reply_options
from providers.fakes.server import (
    Behaviour,
    FakeProvider,
    FakeRequest,
    FakeResponse,
    behaviour_from,
    command_line,
    serve_until_stopped,
)
from providers.fakes.templates import DEMO_GUPSHUP_TEMPLATES
from providers.fakes.whatsapp import NotOnWhatsApp, add_not_on_whatsapp_options, not_on_whatsapp_from
from providers.sample_replies import gupshup_reply

SESSION_TYPES = {"text", "image", "video", "file", "audio", "sticker"}
TEMPLATE_LIST_PREFIX = "/sm/api/v1/template/list/"
NOT_ON_WHATSAPP = (1002, "Number Does Not Exist On WhatsApp")


@dataclass
class SentMessage:
    """What the fake accepted, for tests to read."""

    gupshup_id: str
    destination: str
    form: dict[str, str]
    message: dict | None = None
    template: dict | None = None


@dataclass
class GupshupConfig:
    apikey: str = "fake-gupshup-key"
    app_name: str = "fake-app"
    callback_url: str = ""
    event_version: int = 2  # 2 or 3: the callback format chosen in Gupshup's dashboard
    # destination (without +) -> (HTTP status, message) answered at once instead of accepting
    refuse: dict[str, tuple[int, str]] = field(default_factory=dict)
    # destination -> (code, reason) of an asynchronous "failed" event after "enqueued"
    fail_later: dict[str, tuple[int, str]] = field(default_factory=dict)
    # numbers whose messages fail later with 1002, "not on WhatsApp" (an SMS fallback's cue)
    not_on_whatsapp: NotOnWhatsApp = field(default_factory=NotOnWhatsApp)
    events: tuple[str, ...] = ("enqueued", "sent", "delivered")
    replies: DemoReplies = field(default_factory=DemoReplies)  # who answers after delivery (demo)
    clicks: DemoClicks = field(default_factory=DemoClicks)  # who taps their short links (demo)
    templates: list[dict] = field(default_factory=lambda: list(DEMO_GUPSHUP_TEMPLATES))  # the template list


class FakeGupshup(FakeProvider):
    name = "gupshup"

    def __init__(self, config: GupshupConfig | None = None, behaviour: Behaviour | None = None):
        super().__init__(behaviour)
        self.config = config or GupshupConfig()
        self.sent: list[SentMessage] = []
        self.callbacks: list[tuple[dict, int]] = []  # (body, our answer's status; 0 when unanswered)
        self.tapped: list[tuple[str, int]] = []  # (short link, the answer's status): the demo's taps

    def reset(self, config: GupshupConfig | None = None, behaviour: Behaviour | None = None) -> None:
        """Forget what was received and take new settings (one server can serve many tests)."""
        with self.lock:
            self.config = config or GupshupConfig()
            self.forget(behaviour)
            self.sent.clear()
            self.callbacks.clear()
            self.tapped.clear()

    def routes(self):
        return {
            ("POST", "/wa/api/v1/msg"): self.session_message,
            ("POST", "/wa/api/v1/template/msg"): self.template_message,
        }

    def handle(self, request: FakeRequest) -> FakeResponse:
        # The template list has the app name in its path, which a fixed route table cannot hold.
        if request.method == "GET" and request.path.startswith(TEMPLATE_LIST_PREFIX):
            with self.lock:
                self.received.append(request)
            return self.template_list(request)
        return super().handle(request)

    # --- routes ------------------------------------------------------------------------------

    def session_message(self, request: FakeRequest) -> FakeResponse:
        form, problem = self._read_form(request)
        if problem:
            return problem
        message, problem = _json_field(form, "message")
        if problem:
            return problem
        problem = _session_problem(message)
        if problem:
            return FakeResponse(400, {"status": "error", "message": problem})
        return self._accept(form, message=message)

    def template_message(self, request: FakeRequest) -> FakeResponse:
        form, problem = self._read_form(request)
        if problem:
            return problem
        template, problem = _json_field(form, "template")
        if problem:
            return problem
        if not template.get("id") or not isinstance(template.get("params", []), list):
            return FakeResponse(400, {"status": "error", "message": "Invalid template: id and params are required"})
        message = None
        if "message" in form:
            message, problem = _json_field(form, "message")
            if problem:
                return problem
        return self._accept(form, message=message, template=template)

    def template_list(self, request: FakeRequest) -> FakeResponse:
        if request.headers.get("apikey") != self.config.apikey:
            return FakeResponse(401, {"status": "error", "message": "Authentication Failed"})
        app_name = request.path[len(TEMPLATE_LIST_PREFIX) :]
        if app_name != self.config.app_name:
            return FakeResponse(400, {"status": "error", "message": "Invalid App Details"})
        return FakeResponse(200, {"status": "success", "templates": list(self.config.templates)})

    # --- checks and answers ------------------------------------------------------------------

    def _read_form(self, request: FakeRequest) -> tuple[dict[str, str], FakeResponse | None]:
        if request.headers.get("apikey") != self.config.apikey:
            return {}, FakeResponse(401, {"status": "error", "message": "Authentication Failed"})
        if "application/x-www-form-urlencoded" not in request.headers.get("Content-Type", ""):
            return {}, FakeResponse(400, {"status": "error", "message": "Expected a form-encoded body"})
        form = {name: values[-1] for name, values in request.form.items()}
        problem = self._form_problem(form)
        if problem:
            return form, FakeResponse(400, {"status": "error", "message": problem})
        if self.over_rate():
            return form, FakeResponse(429, {"status": "error", "message": "Too Many Requests"}, {"Retry-After": "1"})
        return form, None

    def _form_problem(self, form: dict[str, str]) -> str:
        missing = [name for name in ("channel", "source", "destination", "src.name") if not form.get(name)]
        checks = [
            (bool(missing), f"Missing parameters: {', '.join(missing)}"),
            (form.get("channel") != "whatsapp", "Invalid channel"),
            (form.get("src.name") != self.config.app_name, "Invalid App Details"),
            (not form.get("source", "").isdigit(), "Invalid source: digits without +"),
            (not form.get("destination", "").isdigit(), "Invalid destination: digits without +"),
        ]
        return next((message for failed, message in checks if failed), "")

    def _accept(self, form: dict[str, str], *, message: dict | None = None, template: dict | None = None):
        destination = form["destination"]
        if destination in self.config.refuse:
            status, text = self.config.refuse[destination]
            return FakeResponse(status, {"status": "error", "message": text})
        gupshup_id = str(uuid.uuid4())
        with self.lock:
            self.sent.append(SentMessage(gupshup_id, destination, form, message, template))
        if self.config.callback_url:
            self._send_events(gupshup_id, destination, " ".join(form.values()))  # links in text or template
        return FakeResponse(202, {"status": "submitted", "messageId": gupshup_id})

    def _send_events(self, gupshup_id: str, destination: str, text: str = "") -> None:
        """Post the events in order on one thread, like a well-behaved Gupshup would."""
        failing = destination in self.config.fail_later or destination in self.config.not_on_whatsapp
        steps = ["enqueued", "failed"] if failing else list(self.config.events)
        bodies = [self.event(step, gupshup_id, destination) for step in steps]

        reply = self.config.replies.pick() if steps[-1] == "delivered" else None
        taps = self.config.clicks.pick(text) if steps[-1] == "delivered" else []

        def post_all() -> None:
            self.wait_to_call_back()
            for body in bodies:
                time.sleep(self.behaviour.callback_delay)
                self.post_callback(body)
            if taps:
                time.sleep(self.config.clicks.delay)
                self.tapped.extend((link, self.config.clicks.click(link)) for link in taps)
            if reply:
                time.sleep(self.config.replies.delay)
                self.post_callback(gupshup_reply("", app=self.config.app_name, sender=destination, text=reply).json)

        threading.Thread(target=post_all, daemon=True).start()

    def post_callback(self, body: dict) -> int:
        """POST one callback; the answer's status, 0 when nothing answered. Kept in ``callbacks`` once
        answered, so a test may wait for it, reading only."""
        try:
            status = requests.post(self.config.callback_url, json=body, timeout=10).status_code
        except requests.RequestException:
            status = 0  # a real Gupshup retries a few times; the demo does not need to
        self.callbacks.append((body, status))
        return status

    def send_inbound(self, sender: str, text: str, name: str = "Test reply") -> int:
        """A WhatsApp user's message (``sender``: digits or E.164), posted to the callback URL now, as
        Gupshup would post it; the status our webhook answered (0 when nothing answered)."""
        reply = gupshup_reply("", app=self.config.app_name, sender=sender.lstrip("+"), text=text, name=name)
        return self.post_callback(reply.json)

    def event(self, kind: str, gupshup_id: str, destination: str) -> dict:
        """One message event in the configured callback format."""
        whatsapp_id = f"wamid.{uuid.uuid5(uuid.NAMESPACE_OID, gupshup_id).hex}"
        details: dict = {}
        if kind == "failed":
            code, reason = self.config.fail_later.get(destination) or NOT_ON_WHATSAPP
            details = {"code": code, "reason": reason}
        if self.config.event_version == 3:
            return v3_status_event(
                self.config.app_name,
                kind,
                gupshup_id=gupshup_id,
                whatsapp_id=whatsapp_id,
                destination=destination,
                details=details,
            )
        payload = {"id": gupshup_id, "type": kind, "destination": destination, "payload": details}
        if kind != "enqueued":
            payload.update(id=whatsapp_id, gsId=gupshup_id)
        millis = int(time.time() * 1000)
        return {
            "app": self.config.app_name,
            "timestamp": millis,
            "version": 2,
            "type": "message-event",
            "payload": payload,
        }


def v3_status_event(app: str, kind: str, *, gupshup_id: str, whatsapp_id: str, destination: str, details: dict) -> dict:
    status = {"gs_id": gupshup_id, "id": whatsapp_id, "recipient_id": destination, "status": kind}
    status["timestamp"] = str(int(time.time()))
    if details:
        status["errors"] = [{"code": details["code"], "title": details["reason"]}]
    value = {"messaging_product": "whatsapp", "statuses": [status]}
    return {"gs_app_id": app, "object": "whatsapp_business_account", "entry": [{"changes": [{"value": value}]}]}


def _json_field(form: dict[str, str], name: str) -> tuple[dict, FakeResponse | None]:
    try:
        value = json.loads(form.get(name) or "")
    except ValueError:
        return {}, FakeResponse(400, {"status": "error", "message": f"Invalid {name}: not JSON"})
    if not isinstance(value, dict):
        return {}, FakeResponse(400, {"status": "error", "message": f"Invalid {name}: not an object"})
    return value, None


def _session_problem(message: dict) -> str:
    kind = message.get("type")
    if kind not in SESSION_TYPES:
        return f"Invalid message type {kind!r}"
    required = {"text": ["text"], "image": ["originalUrl", "previewUrl"], "video": ["url"], "file": ["url", "filename"]}
    missing = [name for name in required.get(kind, ["url"]) if not message.get(name)]
    return f"Invalid {kind} message: missing {', '.join(missing)}" if missing else ""


def main() -> None:
    parser = command_line("A local fake of Gupshup's WhatsApp API.", port=8102)
    parser.add_argument("--apikey", default=GupshupConfig.apikey)
    parser.add_argument("--app-name", default=GupshupConfig.app_name)
    parser.add_argument("--callback-url", default="", help="our webhook: /webhooks/gswa/<webhook_token>/events")
    parser.add_argument("--event-version", type=int, choices=(2, 3), default=2)
    add_reply_options(parser)
    add_not_on_whatsapp_options(parser)
    args = parser.parse_args()
    config = GupshupConfig(args.apikey, args.app_name, args.callback_url, args.event_version)
    config.not_on_whatsapp = not_on_whatsapp_from(args)
    config.replies = DemoReplies(args.reply_rate, args.reply_seed)
    config.clicks = DemoClicks(args.click_rate, args.click_seed)
    serve_until_stopped(FakeGupshup(config, behaviour_from(args)), args, "fake Gupshup listening on {url}")


if __name__ == "__main__":
    main()
