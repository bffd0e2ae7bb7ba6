"""Channels' credentials are encrypted at rest: no dump, raw select or fixture shows them.

The audit's reproduction was a database dump showing Twilio auth tokens and the Gupshup and
sendbulk API keys. Here the same dumps show only Fernet tokens, keys rotate, and the migration
encrypts the rows that were there before it (and its reverse decrypts them).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings

from messaging_site.services import write_local_env
from providers import credentials
from providers.models import Channel

TWILIO_TOKEN = "twilio-auth-token-5f1c2e9a"
GUPSHUP_KEY = "gupshup-api-key-77d0c1b4"
SENDBULK_KEY = "sendbulk-api-key-31aa9e02"
SECRETS = (TWILIO_TOKEN, GUPSHUP_KEY, SENDBULK_KEY)


@pytest.fixture
def channels(db) -> list[Channel]:
    return [
        Channel.objects.create(
            name="Twilio", provider="twlo", credentials={"account_sid": "AC" + "1" * 32, "auth_token": TWILIO_TOKEN}
        ),
        Channel.objects.create(
            name="Gupshup", provider="gswa", credentials={"apikey": GUPSHUP_KEY, "app_name": "shop"}
        ),
        Channel.objects.create(
            name="Sendbulk",
            provider="sendbulk",
            api_base_url="https://sms.example.com/api/services",
            credentials={"partner_id": "7788", "apikey": SENDBULK_KEY},
        ),
    ]


def raw_rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM providers_channel")
        return cursor.fetchall()


def raw_token(channel: Channel) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM providers_channel WHERE id = %s", [channel.pk])
        return cursor.fetchone()[0]


def raw_webhook_token(channel: Channel) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT webhook_token FROM providers_channel WHERE id = %s", [channel.pk])
        return cursor.fetchone()[0]


def test_a_raw_select_of_the_channel_table_shows_no_credential(channels):
    everything = repr(raw_rows())
    for secret in (*SECRETS, *(channel.webhook_token for channel in channels)):
        assert secret not in everything
    assert all(raw_token(channel).startswith("gAAAA") for channel in channels)  # a Fernet token


def test_dumpdata_shows_no_credential_and_loaddata_reads_it_back(channels, tmp_path):
    dump = io.StringIO()
    call_command("dumpdata", "providers", stdout=dump)
    for secret in (*SECRETS, *(channel.webhook_token for channel in channels)):
        assert secret not in dump.getvalue()
    fixture = tmp_path / "channels.json"
    fixture.write_text(dump.getvalue())
    Channel.objects.all().delete()
    call_command("loaddata", str(fixture), verbosity=0)
    assert Channel.objects.get(name="Twilio").credentials["auth_token"] == TWILIO_TOKEN
    assert Channel.objects.with_webhook_token(channels[1].webhook_token).get().name == "Gupshup"


def test_a_channel_is_found_by_its_webhook_token_through_its_hash(channels):
    gupshup = channels[1]
    assert Channel.objects.with_webhook_token(gupshup.webhook_token).get() == gupshup
    assert not Channel.objects.with_webhook_token("not-" + gupshup.webhook_token).exists()


def test_the_whole_database_dump_shows_no_credential(channels):
    dump = io.StringIO()
    call_command("dumpdata", exclude=["django_rq"], stdout=dump)
    for secret in SECRETS:
        assert secret not in dump.getvalue()


def test_code_reads_the_credentials_as_a_dict(channels):
    assert Channel.objects.get(name="Gupshup").credentials == {"apikey": GUPSHUP_KEY, "app_name": "shop"}


def test_rotation_re_encrypts_every_channel_under_the_newest_key(channels):
    old = os.environ["CREDENTIALS_KEY"]
    new = Fernet.generate_key().decode()
    with override_settings(CREDENTIALS_KEYS=[new, old]):
        out = io.StringIO()
        call_command("rotate_credentials_key", stdout=out)
        assert "Re-encrypted the credentials of 3 channel(s)" in out.getvalue()
    for channel in channels:
        Fernet(new).decrypt(raw_token(channel).encode())  # raises if it is not under the new key
        Fernet(new).decrypt(raw_webhook_token(channel).encode())
    with override_settings(CREDENTIALS_KEYS=[new]):  # the old key dropped: everything still reads
        assert Channel.objects.get(name="Twilio").credentials["auth_token"] == TWILIO_TOKEN


def test_rotation_names_the_channels_no_key_can_read_and_leaves_them(channels):
    stranger = Fernet.generate_key().decode()
    with override_settings(CREDENTIALS_KEYS=[stranger]):
        Channel.objects.create(name="Lost key", provider="sandbox", credentials={"token": "x"})
    before = raw_token(Channel.objects.only("pk").get(name="Lost key"))
    with pytest.raises(CommandError, match="'Lost key'"):
        call_command("rotate_credentials_key", stdout=io.StringIO())
    assert raw_token(Channel.objects.only("pk").get(name="Lost key")) == before


def test_credentials_no_key_reads_fail_naming_the_setting(channels):
    with override_settings(CREDENTIALS_KEYS=[Fernet.generate_key().decode()]):
        with pytest.raises(credentials.CredentialsUnreadable, match="CREDENTIALS_KEY"):
            Channel.objects.get(name="Twilio")


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_rows_and_its_reverse_decrypts_them():
    before = [("providers", "0003_channel_price_per_segment")]
    after = [("providers", "0004_encrypt_channel_credentials")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        plain = json.dumps({"apikey": GUPSHUP_KEY, "app_name": "shop"})
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO providers_channel (name, provider, channel_key, webhook_token, sender, credentials,"
                " rate_limit, batch_size, api_base_url, options, is_active, paused_reason, created_at,"
                " price_per_segment) VALUES ('Old', 'gswa', 'k1', %s, '', %s, 1, 0, '', '{}', %s, '', %s, 0)",
                ["old-webhook-token-5d2c", plain, True, "2026-01-01T00:00:00+00:00"],
            )
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        token = raw_token(Channel.objects.only("pk").get(name="Old"))
        assert GUPSHUP_KEY not in token
        assert credentials.decrypt(token) == {"apikey": GUPSHUP_KEY, "app_name": "shop"}

        executor = MigrationExecutor(connection)
        executor.migrate(before)
        with connection.cursor() as cursor:
            cursor.execute("SELECT credentials FROM providers_channel WHERE name = 'Old'")
            stored = cursor.fetchone()[0]
        value = json.loads(stored) if isinstance(stored, str) else stored  # SQLite text, PostgreSQL jsonb
        assert value == {"apikey": GUPSHUP_KEY, "app_name": "shop"}

        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())  # and forwards again, the webhook token too
        old = Channel.objects.with_webhook_token("old-webhook-token-5d2c").get()  # its callback URLs still work
        assert (old.name, old.credentials["apikey"]) == ("Old", GUPSHUP_KEY)
        assert "old-webhook-token-5d2c" not in repr(raw_rows())
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_make_run_adds_a_credentials_key_to_a_local_settings_file_written_before(tmp_path: Path):
    (tmp_path / "local.env").write_text("DEBUG=true\nSECRET_KEY=kept\n")
    write_local_env(tmp_path)
    write_local_env(tmp_path)  # only once
    lines = (tmp_path / "local.env").read_text().splitlines()
    keys = [line.removeprefix("CREDENTIALS_KEY=") for line in lines if line.startswith("CREDENTIALS_KEY=")]
    assert len(keys) == 1
    Fernet(keys[0])  # a real Fernet key
    assert "SECRET_KEY=kept" in lines


def test_a_fresh_local_settings_file_has_a_credentials_key(tmp_path: Path):
    text = write_local_env(tmp_path).read_text()
    assert "CREDENTIALS_KEY=" in text


def settings_start(**env: str) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ.get("PATH", ""), "LOCAL_ENV_FILE": "", "SECRET_KEY": "x" * 50}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**base, "DJANGO_SETTINGS_MODULE": "messaging_site.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_debug_off_without_a_credentials_key_stops_the_start_naming_the_variable():
    result = settings_start(DEBUG="false")
    assert result.returncode != 0
    assert "CREDENTIALS_KEY (or CREDENTIALS_KEY_FILE) is required when DEBUG is off" in result.stderr


def test_a_key_that_is_not_a_fernet_key_is_named_by_its_place_and_not_shown():
    good = Fernet.generate_key().decode()
    result = settings_start(DEBUG="false", CREDENTIALS_KEY=f"{good},not-a-key-hunter2")
    assert result.returncode != 0
    assert "CREDENTIALS_KEY: key 2 of 2 is not a Fernet key" in result.stderr
    assert "hunter2" not in result.stderr


def test_a_debug_checkout_without_a_key_still_starts():
    assert settings_start(DEBUG="true").returncode == 0


def test_the_key_can_come_from_a_file(tmp_path: Path):
    key_file = tmp_path / "credentials.key"
    key_file.write_text(Fernet.generate_key().decode() + "\n")
    result = settings_start(DEBUG="false", CREDENTIALS_KEY_FILE=str(key_file))
    assert result.returncode == 0, result.stderr
