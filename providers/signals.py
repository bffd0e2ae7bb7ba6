"""Signals providers send for the layers above them to act on (they register in their AppConfig.ready)."""

from django.dispatch import Signal

# Staff resumed paused channels (``channels``: a list of Channel). A receiver may return a phrase
# for the admin's message, e.g. "2 campaign(s) they had paused".
channels_resumed = Signal()
