"""A local stand-in for a sendbulk SMS gateway, for the tests and the `make run` demo.

It serves {prefix}/sendbulk/, /getdlr/ and /getbalance/ like a reseller's deployment: it checks
the credentials (and that every item of a request carries the same ones), refuses requests over
its batch size with 1012, answers chosen numbers with chosen codes, keeps a delivery report per
message for getdlr, and can push reports to a callback URL or spell the key ``respose-code``.

    python -m providers.sendbulk.fake --port 8103 --partner-id 1234 --apikey demo-key
    (then set the channel's API base URL to http://127.0.0.1:8103/api/services)
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

from providers.fakes.server import (
    Behaviour,
    FakeProvider,
    FakeRequest,
    FakeResponse,
    behaviour_from,
    bulk_answer,
    command_line,
    serve_until_stopped,
)

ITEM_FIELDS = ("partnerID", "apikey", "pass_type", "clientsmsid", "mobile", "message", "shortcode")


@dataclass
class SendbulkConfig:
    partner_id: str = "1234"
    apikey: str = "fake-sendbulk-key"
    prefix: str = "/api/services"
    max_batch: int = 1000  # older deployments take 20
    misspell: bool = False  # answer "respose-code", as some deployments do
    # mobile (without +) -> response code answered for that message instead of 200
    number_codes: dict[str, int] = field(default_factory=dict)
    # a code answered, unwrapped, for every request (1004 low credit, 4090...); None = normal
    batch_code: int | None = None
    # mobile -> delivery description getdlr reports (default DeliveredToTerminal)
    delivery: dict[str, str] = field(default_factory=dict)
    callback_url: str = ""  # push {description, messageid, timeTaken, timestamp} here
    balance: str = "1520.50"


@dataclass
class Submitted:
    messageid: str
    item: dict
    submitted_at: float


class FakeSendbulk(FakeProvider):
    name = "sendbulk"

    def __init__(self, config: SendbulkConfig | None = None, behaviour: Behaviour | None = None):
        super().__init__(behaviour)
        self.config = config or SendbulkConfig()
        self.messages: dict[str, Submitted] = {}
        self.batch_sizes: list[int] = []  # the size of every request answered (including refused)
        self._ids = itertools.count(70_000_001)

    def reset(self, config: SendbulkConfig | None = None, behaviour: Behaviour | None = None) -> None:
        """Forget what was received and take new settings (one server can serve many tests)."""
        with self.lock:
            self.config = config or SendbulkConfig()
            self.forget(behaviour)
            self.messages.clear()
            self.batch_sizes.clear()

    def routes(self):
        prefix = self.config.prefix.rstrip("/")
        return {
            ("POST", f"{prefix}/sendbulk/"): self.send_bulk,
            ("POST", f"{prefix}/getdlr/"): self.get_dlr,
            ("POST", f"{prefix}/getbalance/"): self.get_balance,
        }

    # --- routes ------------------------------------------------------------------------------

    def send_bulk(self, request: FakeRequest) -> FakeResponse:
        try:
            body = request.json()
        except ValueError:
            return self._error(1009, "Unsupported data type")
        smslist = body.get("smslist") if isinstance(body, dict) else None
        if not isinstance(smslist, list) or not smslist or not all(isinstance(i, dict) for i in smslist):
            return self._error(1010, "Unsupported request type")
        with self.lock:
            self.batch_sizes.append(len(smslist))
        problem = self._request_problem(body, smslist)
        if problem:
            return problem
        if self.over_rate(len(smslist)):
            return FakeResponse(429, {"message": "Too many requests"}, {"Retry-After": "1"})
        answer = FakeResponse(200, {"responses": [self._answer_item(item) for item in smslist]})
        return bulk_answer(self.behaviour, answer)

    def get_dlr(self, request: FakeRequest) -> FakeResponse:
        body = _object_body(request)
        problem = self._credentials_problem(body)
        if problem:
            return problem
        submitted = self.messages.get(str(body.get("messageID")))
        if submitted is None:
            return self._error(1008, "No Delivery Report")
        description = self.config.delivery.get(submitted.item["mobile"], "DeliveredToTerminal")
        answer = {
            "response-code": 200,
            "message-id": submitted.messageid,
            "response-description": "Success",
            "delivery-status": 32 if description == "DeliveredToTerminal" else 1,
            "delivery-description": description,
            "delivery-time": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        return FakeResponse(200, self._spelled(answer))

    def get_balance(self, request: FakeRequest) -> FakeResponse:
        body = _object_body(request)
        problem = self._credentials_problem(body)
        if problem:
            return problem
        answer = {"response-code": 200, "credit": self.config.balance, "partner-id": self.config.partner_id}
        return FakeResponse(200, self._spelled(answer))

    # --- checks ------------------------------------------------------------------------------

    def _request_problem(self, body: dict, smslist: list[dict]) -> FakeResponse | None:
        first = smslist[0]
        shape = _shape_problem(body, smslist)
        if shape:
            # The real gateway guesses (it uses the first item's credentials); the fake is loud.
            return FakeResponse(400, {"message": f"fake: {shape}"})
        problem = self._credentials_problem(first)
        if problem:
            return problem
        if len(smslist) > self.config.max_batch:
            return self._error(1012, "Too many messages in smslist")
        if self.config.batch_code is not None:
            return self._error(self.config.batch_code, "Refused for the whole request")
        return None

    def _credentials_problem(self, fields: dict) -> FakeResponse | None:
        if not fields.get("partnerID"):
            return self._error(4091, "No Partner ID is Set")
        if not fields.get("apikey"):
            return self._error(4092, "No Api Key Found")
        if (str(fields["partnerID"]), fields["apikey"]) != (self.config.partner_id, self.config.apikey):
            return self._error(1006, "Invalid credentials")
        return None

    # --- answers -----------------------------------------------------------------------------

    def _answer_item(self, item: dict) -> dict:
        mobile = str(item["mobile"])
        code = self.config.number_codes.get(mobile, 200)
        answer = {"response-code": code, "response-description": "Success" if code == 200 else "Refused"}
        answer.update(mobile=mobile, clientsmsid=item["clientsmsid"], networkid=1)
        if code == 200:
            messageid = str(next(self._ids))
            answer["messageid"] = messageid
            with self.lock:
                self.messages[messageid] = Submitted(messageid, item, time.time())
            if self.config.callback_url:
                self._push_report(messageid, mobile)
        return self._spelled(answer)

    def _push_report(self, messageid: str, mobile: str) -> None:
        description = self.config.delivery.get(mobile, "DeliveredToTerminal")
        stamp = time.strftime("%Y%m%d%H%M%S")
        report = {"description": description, "messageid": messageid, "timeTaken": "2s", "timestamp": stamp}
        self.callback_later(self.config.callback_url, json_body=report)

    def _error(self, code: int, description: str) -> FakeResponse:
        return FakeResponse(200, self._spelled({"response-code": code, "response-description": description}))

    def _spelled(self, answer: dict) -> dict:
        if self.config.misspell and "response-code" in answer:
            answer = {("respose-code" if k == "response-code" else k): v for k, v in answer.items()}
        return answer


def _shape_problem(body: dict, smslist: list[dict]) -> str:
    first = smslist[0]
    if any((i.get("partnerID"), i.get("apikey")) != (first.get("partnerID"), first.get("apikey")) for i in smslist):
        return "credentials differ between smslist items"
    if body.get("count") != len(smslist):
        return f"count {body.get('count')!r} != {len(smslist)} items"
    # Missing credentials get the gateway's own codes (4091, 4092) from the credentials check.
    missing = sorted({name for item in smslist for name in ITEM_FIELDS[2:] if item.get(name) in (None, "")})
    return f"items without {', '.join(missing)}" if missing else ""


def _object_body(request: FakeRequest) -> dict:
    try:
        body = request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def main() -> None:
    parser = command_line("A local fake of a sendbulk SMS gateway.", port=8103)
    parser.add_argument("--partner-id", default=SendbulkConfig.partner_id)
    parser.add_argument("--apikey", default=SendbulkConfig.apikey)
    parser.add_argument("--prefix", default=SendbulkConfig.prefix)
    parser.add_argument("--max-batch", type=int, default=SendbulkConfig.max_batch)
    parser.add_argument("--misspell", action="store_true", help='answer "respose-code" like some deployments')
    parser.add_argument("--callback-url", default="", help="our webhook: /webhooks/sendbulk/<webhook_token>/dlr")
    args = parser.parse_args()
    config = SendbulkConfig(
        args.partner_id, args.apikey, args.prefix, args.max_batch, args.misspell, callback_url=args.callback_url
    )
    fake = FakeSendbulk(config, behaviour_from(args))
    serve_until_stopped(fake, args, "fake sendbulk gateway on {url}" + config.prefix)


if __name__ == "__main__":
    main()
