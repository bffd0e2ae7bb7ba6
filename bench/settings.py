"""The product's settings plus the loopback provider that the benches measure against."""

from messaging_site.settings import *  # noqa: F403

MESSAGING_PROVIDERS = [*MESSAGING_PROVIDERS, "bench.loopback.LoopbackProvider"]  # noqa: F405
