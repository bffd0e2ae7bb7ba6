"""WhatsApp failures that are the 24-hour rule's, said in staff words wherever failures are shown (the
message page, a campaign's failures, its analytics, a conversation). campaigns/conversations/window.py
keeps the rule itself, up front."""

from __future__ import annotations

# Failures that mean the message went outside the window (PROVIDERS.md): Twilio's 63016, and the
# codes of Gupshup's failed events 1004-1008 (its send API's own 1004-1008 answers are HTTP errors,
# stored as http_<status>, so never mistaken for these).
OUTSIDE_WINDOW_CODES = {"twlowa": {"63016"}, "twlo": {"63016"}, "gswa": {"1004", "1005", "1006", "1007", "1008"}}
OUTSIDE_WINDOW = (
    "Outside WhatsApp's 24-hour window: the contact has not written to this channel in the last 24 hours "
    "(or never has), and then WhatsApp only delivers an approved template. Send them a template instead."
)


def failure_words(provider: str, error_code: str, error_message: str = "") -> str:
    """A failure in staff words when it is the 24-hour rule's (the provider's own words kept after it); else ''."""
    if str(error_code).strip() not in OUTSIDE_WINDOW_CODES.get(provider, set()):
        return ""
    said = f" ({error_code}: {error_message})" if error_message else f" ({error_code})"
    return OUTSIDE_WINDOW + said
