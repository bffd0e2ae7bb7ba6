"""Bad environment values stop the start with a message naming the variable and the value."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

BASE_ENV = {
    "PATH": os.environ.get("PATH", ""),
    "SECRET_KEY": "x" * 50,
    "CREDENTIALS_KEY": "dGVzdC1zdWl0ZS1vbmx5LWNyZWRlbnRpYWxzLWtleSE=",
    "DJANGO_SETTINGS_MODULE": "messaging_site.settings",
    "LOCAL_ENV_FILE": "",  # a checkout's var/local.env (written by `make run`) must not answer for the test
}


def load_settings(**env: str) -> subprocess.CompletedProcess:
    code = "import django; django.setup(); from django.conf import settings as s; print(s.DATABASES)"
    return subprocess.run(
        [sys.executable, "-c", code], env={**BASE_ENV, **env}, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "nosuchdb://x"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("TIME_ZONE", "Mars/Olympus"),
        ("SEND_MAX_ATTEMPTS", "many"),
        ("SEND_MAX_ATTEMPTS", "0"),
        ("PUBLIC_BASE_URL", "example.com"),
        ("CSRF_TRUSTED_ORIGINS", "example.com"),
        ("LOG_LEVEL", "LOUD"),
        ("LOG_FORMAT", "YAML"),
        ("API_RATE_LIMIT_PER_MINUTE", "lots"),
        ("TRUSTED_PROXY_COUNT", "two"),
        ("TRUSTED_PROXY_COUNT", "-1"),
        ("LOGIN_FAILURE_LIMIT", "0"),
        ("LOGIN_LOCKOUT_MINUTES", "soon"),
        ("SESSION_IDLE_MINUTES", "-5"),
        ("SESSION_MAX_HOURS", "forever"),
        ("REQUIRE_2FA_FOR_SUPERUSERS", "perhaps"),
        ("SECURE_SSL_REDIRECT", "sometimes"),
        ("SECURE_HSTS_SECONDS", "a year"),
        ("SECURE_HSTS_PRELOAD", "later"),
        ("PROVIDER_CA_BUNDLE", "/no/such/ca-bundle.pem"),
        ("WORKER_MAX_JOBS", "0"),
        ("SENDING_STALE_SECONDS", "5"),
    ],
)
def test_a_bad_value_names_the_variable_and_the_value(name, value):
    result = load_settings(**{name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr
    assert value in result.stderr


def test_debug_off_requires_a_secret_key():
    env = {k: v for k, v in BASE_ENV.items() if k != "SECRET_KEY"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**env, "DEBUG": "false"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


def test_a_database_password_is_not_shown_in_the_error():
    result = load_settings(DATABASE_URL="postgres://user:hunter2@host:notaport/db")
    assert "hunter2" not in result.stderr


def test_good_values_start_and_debug_off_makes_cookies_secure(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.TIME_ZONE, s.DATABASES['default']['ENGINE'])"
    )
    env = {**BASE_ENV, "DEBUG": "off", "TIME_ZONE": "Africa/Nairobi", "DATABASE_URL": "postgres://u@127.0.0.1:5432/x"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True", "Africa/Nairobi", "django.db.backends.postgresql"]
