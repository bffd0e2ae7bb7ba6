"""A reply from a recipient as the provider itself would post it: for the channel page's "Send a test reply"
button and for the demo's fakes.

The payload is the provider's own format (Twilio's signed form, Gupshup's v2 `message` event) and
goes over HTTP to the channel's inbound address, so a test reply takes the same path as a real one:
the address, the signature or token, the parsing and the storing. A failure here is the failure a
provider would meet, in words an administrator can act on.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import requests

from providers.twilio.signature import compute_signature

if TYPE_CHECKING:  # the fakes use the builders without Django
    from providers.models import Channel

TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Reply:
    url: str
    form: dict[str, str] | None = None
    json: dict | None = None
    headers: dict[str, str] | None = None


def twilio_reply(url: str, auth_token: str, *, sender: str, to: str, text: str, account_sid: str = "") -> Reply:
    """Twilio's inbound form for a reply from ``sender`` to our number ``to``, signed with ``auth_token``."""
    form = {"AccountSid": account_sid, "MessageSid": "SM" + uuid.uuid4().hex, "From": sender, "To": to}
    form.update({"Body": text, "NumMedia": "0", "NumSegments": "1", "ApiVersion": "2010-04-01"})
    if sender.startswith("whatsapp:"):
        form.update(WaId=sender.removeprefix("whatsapp:+"), ProfileName="Test reply")
    return Reply(url, form=form, headers={"X-Twilio-Signature": compute_signature(auth_token, url, form)})


def gupshup_reply(url: str, *, app: str, sender: str, text: str, name: str = "Test reply") -> Reply:
    """Gupshup's v2 `message` callback for a text reply from ``sender`` (digits, no +)."""
    payload = {
        "id": uuid.uuid4().hex,
        "source": sender,
        "type": "text",
        "payload": {"text": text},
        "sender": {"phone": sender, "name": name, "country_code": "", "dial_code": ""},
    }
    body = {"app": app, "timestamp": int(time.time() * 1000), "version": 2, "type": "message", "payload": payload}
    return Reply(url, json=body)


def can_send_sample_reply(channel: Channel) -> bool:
    return channel.provider in BUILDERS


def sample_reply_for(channel: Channel, phone: str, text: str) -> Reply:
    """The provider's payload for a reply from ``phone`` (E.164) to this channel."""
    return BUILDERS[channel.provider](channel, phone, text)


def send_sample_reply(channel: Channel, phone: str, text: str) -> str:
    """POST a test reply to the channel's inbound address; returns what happened, in staff words.

    Raises ValueError with the reason when the address did not take it.
    """
    reply = sample_reply_for(channel, phone, text)
    try:
        answer = requests.post(
            reply.url, data=reply.form, json=reply.json, headers=reply.headers, timeout=TIMEOUT_SECONDS
        )
    except requests.RequestException as error:
        raise ValueError(
            f"could not reach {reply.url} ({type(error).__name__}). "
            "Is PUBLIC_BASE_URL the address this site answers on?"
        ) from None
    if answer.status_code == 403:
        raise ValueError(
            "the webhook refused the test reply's signature (403). PUBLIC_BASE_URL must be exactly the address "
            "the provider calls, as Twilio signs the full URL."
        )
    if not 200 <= answer.status_code < 300:
        raise ValueError(f"the webhook answered HTTP {answer.status_code}.")
    return f"The inbound address answered {answer.status_code}: the reply from {phone} is on its way to the inbox."


def _twilio(channel: Channel, phone: str, text: str) -> Reply:
    credentials = channel.credentials or {}
    prefix = "whatsapp:" if channel.provider == "twlowa" else ""
    return twilio_reply(
        channel.webhook_url("inbound"),
        str(credentials.get("auth_token", "")),
        sender=prefix + phone,
        to=prefix + channel.sender,
        text=text,
        account_sid=str(credentials.get("account_sid", "")),
    )


def _gupshup(channel: Channel, phone: str, text: str) -> Reply:
    app = str((channel.credentials or {}).get("app_name", ""))
    return gupshup_reply(channel.webhook_url("events"), app=app, sender=phone.removeprefix("+"), text=text)


BUILDERS = {"twlo": _twilio, "twlowa": _twilio, "gswa": _gupshup}
