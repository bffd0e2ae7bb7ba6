"""`manage.py check --deploy` finds nothing to warn about under the README's production environment."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

BASE_DIR = Path(__file__).resolve().parent.parent


def readme_production_env() -> dict[str, str]:
    """The NAME=value lines of the README's `production.env` block, as written."""
    readme = (BASE_DIR / "README.md").read_text()
    block = re.search(r"```\n# production\.env\n(.*?)```", readme, re.S).group(1)
    return dict(line.split("=", 1) for line in block.splitlines() if line and not line.startswith("#"))


def with_made_up_secrets(env: dict[str, str], folder: Path) -> dict[str, str]:
    made_up = {"SECRET_KEY_FILE": secrets.token_urlsafe(50), "CREDENTIALS_KEY_FILE": Fernet.generate_key().decode()}
    for name, secret in made_up.items():
        path = folder / name.lower()
        path.write_text(secret)
        env[name] = str(path)
    return env


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env={"PATH": os.environ.get("PATH", ""), "LOCAL_ENV_FILE": "", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_readme_production_settings_pass_the_deploy_check(tmp_path):
    env = with_made_up_secrets(readme_production_env(), tmp_path)
    assert env["SECURE_SSL_REDIRECT"] == "true"
    result = check_deploy(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_https_settings_the_check_says_what_is_missing(tmp_path):
    env = with_made_up_secrets(readme_production_env(), tmp_path)
    for name in ("SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD"):
        del env[name]
    result = check_deploy(env)
    assert result.returncode != 0
    assert "security.W004" in result.stderr  # HSTS
    assert "security.W008" in result.stderr  # SSL redirect


def test_hsts_is_sent_over_https_when_set(client, settings, db):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    answer = client.get("/admin/login/", secure=True)
    assert answer.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_plain_http_is_redirected_when_set(client, settings, db):
    settings.SECURE_SSL_REDIRECT = True
    answer = client.get("/admin/login/")
    assert answer.status_code == 301
    assert answer["Location"] == "https://testserver/admin/login/"
    assert client.get("/admin/login/", secure=True).status_code == 200
    assert client.get("/admin/login/", headers={"X-Forwarded-Proto": "https"}).status_code == 301  # not trusted
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # BEHIND_PROXY=true
    assert client.get("/admin/login/", headers={"X-Forwarded-Proto": "https"}).status_code == 200
