"""Settings for the test suite: the real settings, read from the same environment, plus test speed-ups."""

import os

os.environ.setdefault("SECRET_KEY", "test-suite-only-secret-key")
# Channels' credentials are encrypted at rest: a fixed key for the suite (never a real one).
os.environ.setdefault("CREDENTIALS_KEY", "dGVzdC1zdWl0ZS1vbmx5LWNyZWRlbnRpYWxzLWtleSE=")
os.environ.setdefault("LOCAL_ENV_FILE", "")  # the suite never reads a developer's var/local.env

from messaging_site.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; tests hold no real passwords
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
SEND_RETRY_BASE_SECONDS = 1.0
WEBHOOK_ALLOW_PRIVATE_URLS = True  # receivers are loopback fakes; tests/test_event_webhooks.py turns it off
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
# The live server answers each request on a new thread: a persistent connection would outlive it
# and keep the PostgreSQL test database busy at teardown.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# The suite's superusers sign in with a password only; tests/test_two_factor.py turns this back on.
REQUIRE_2FA_FOR_SUPERUSERS = False
# The suite changes keys and their owners with queryset updates between requests, which a kept key
# would not see for 10 s; tests/test_api_key_cache.py turns keeping back on.
API_KEY_CACHE_SECONDS = 0.0
# A burst worker's receiving job returns as soon as nothing waits, instead of watching for more.
RECEIVING_IDLE_SECONDS = 0.0
