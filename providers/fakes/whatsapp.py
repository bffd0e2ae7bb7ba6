"""Who the WhatsApp fakes say is not on WhatsApp: given numbers, and numbers ending in given digits
(the demo's share of recipients whose WhatsApp message fails, so a campaign's SMS fallback shows)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class NotOnWhatsApp:
    numbers: set[str] = field(default_factory=set)  # with or without "+" or "whatsapp:"
    endings: tuple[str, ...] = ()  # "7": every number ending in 7

    def __contains__(self, number: object) -> bool:
        digits = _digits(str(number))
        return digits in {_digits(n) for n in self.numbers} or any(digits.endswith(e) for e in self.endings if e)

    def add(self, *numbers: str) -> None:
        self.numbers.update(numbers)


def _digits(number: str) -> str:
    return number.removeprefix("whatsapp:").lstrip("+")


def add_not_on_whatsapp_options(parser) -> None:
    parser.add_argument("--not-on-whatsapp", action="append", default=[], help="fail this number as not on WhatsApp")
    parser.add_argument(
        "--not-on-whatsapp-ending", action="append", default=[], help="fail numbers ending in these digits (demo)"
    )


def not_on_whatsapp_from(args) -> NotOnWhatsApp:
    return NotOnWhatsApp(set(args.not_on_whatsapp), tuple(args.not_on_whatsapp_ending))
