"""`make run` as a new user meets it: the README's commands work as written, Ctrl-C stops quietly.

These start the real launcher (web server, worker, scheduler, fakes, embedded Redis) on free ports
with a fresh data folder and none of the settings a developer may have exported.
"""

from __future__ import annotations

import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import django_rq
import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
README = (BASE_DIR / "README.md").read_text()
# Settings a developer or CI may have exported that a new user would not have.
NOT_A_NEW_USERS = (
    "DEBUG",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "CREDENTIALS_KEY",  # the test settings export one
    "CREDENTIALS_KEY_FILE",
    "DATABASE_URL",
    "REDIS_URL",
    "LOCAL_ENV_FILE",
    "PORT",
    "DJANGO_SETTINGS_MODULE",  # pytest-django exports the test settings
)

pytestmark = pytest.mark.slow


def free_port_block(size: int) -> int:
    """The first of ``size`` consecutive free loopback ports, from a random start: several suites
    may run at once on one machine, and the ports below 20000 are the developers' own."""
    for _ in range(200):
        first = random.randrange(20_000, 32_000 - size)
        sockets = []
        try:
            for port in range(first, first + size):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return first
    raise RuntimeError("no free ports")


def new_users_environment(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_A_NEW_USERS}
    # The commands are typed outside the venv: its bin/ is not on PATH.
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    return {**env, "VAR_DIR": str(var_dir), **extra}


def readme_manage_commands() -> list[str]:
    """Every `python manage.py ...` command the README gives a user of `make run`, as written."""
    quick_start = README.split("## Running it in production")[0]
    return sorted(set(re.findall(r"`(python manage\.py [^`]+)`", quick_start)))


def wait_for(url: str, launcher: subprocess.Popen, log: Path, seconds: float = 120) -> None:
    """Until our own web server answers ``url`` (not another program that took the port first)."""
    ours = f"Starting development server at {url.split('/admin/', maxsplit=1)[0]}/"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert launcher.poll() is None, f"make run stopped before serving:\n{log.read_text()[-3000:]}"
        if ours not in log.read_text():
            time.sleep(0.5)
            continue
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {seconds} s")


def launch_make_run(env: dict[str, str], log: Path) -> subprocess.Popen:
    """`make run` in its own process group (as a terminal runs it), its output in ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            ["make", "--no-print-directory", "run"],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


@pytest.fixture
def make_run(tmp_path):
    """`make run` in its own process group (as a terminal runs it), stopped by Ctrl-C (SIGINT)."""
    port = free_port_block(4)
    log = tmp_path / "run.log"
    env = new_users_environment(tmp_path / "var", PORT=str(port), FAKES_PORT=str(port + 1))
    launcher = launch_make_run(env, log)
    try:
        wait_for(f"http://127.0.0.1:{port}/admin/login/", launcher, log)
        yield {"env": env, "log": log, "launcher": launcher, "var": tmp_path / "var"}
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)


def ctrl_c(launcher: subprocess.Popen) -> int:
    """What the terminal does on Ctrl-C: SIGINT to every process of the foreground group."""
    os.killpg(launcher.pid, signal.SIGINT)
    return launcher.wait(timeout=60)


def python_as_typed() -> str:
    """The `python` a user types: the first on PATH outside the venv (python3 where there is none)."""
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    found = shutil.which("python", path=path) or shutil.which("python3", path=path)
    assert found, "no python on PATH"
    return found


def test_the_readme_names_its_manage_commands():
    commands = readme_manage_commands()
    assert "python manage.py createapikey <username>" in commands
    assert "python manage.py changepassword admin" in commands


def test_readme_commands_work_as_written_after_make_run_and_ctrl_c_stops_quietly(make_run):
    var_dir: Path = make_run["var"]
    local_env = (var_dir / "local.env").read_text()
    assert "DEBUG=true" in local_env
    assert re.search(r"^SECRET_KEY=\S{40,}$", local_env, re.MULTILINE)
    assert re.search(r"^CREDENTIALS_KEY=[\w-]{43}=$", local_env, re.MULTILINE)
    assert (var_dir / "local.env").stat().st_mode & 0o077 == 0  # the key is the user's alone

    for command in readme_manage_commands():
        args = shlex.split(command.replace("<username>", "admin"))
        args[0] = python_as_typed()
        typed = "Brand-new-pass-4821\nBrand-new-pass-4821\n" if "changepassword" in command else ""
        result = subprocess.run(
            args,
            cwd=BASE_DIR,
            env=make_run["env"],
            input=typed,
            capture_output=True,
            text=True,
            timeout=120,
            start_new_session=True,  # no terminal: getpass reads the typed password from stdin
        )
        assert result.returncode == 0, f"{command}: {result.stderr}"
        if "createapikey" in command:
            assert re.search(r"\bmk_[\w-]{20,}", result.stdout), result.stdout
        if "changepassword" in command:
            assert "Password changed successfully" in result.stdout

    # A Django shell builds the webhook addresses on the port make run serves on (it once said 8000).
    printed = subprocess.run(
        [
            python_as_typed(),
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings; print(settings.PUBLIC_BASE_URL)",
        ],
        cwd=BASE_DIR,
        env={k: v for k, v in make_run["env"].items() if k != "PORT"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert printed.stdout.strip().splitlines()[-1] == f"http://127.0.0.1:{make_run['env']['PORT']}", printed.stderr

    assert make_run["launcher"].poll() is None, make_run["log"].read_text()[-3000:]
    before = len(make_run["log"].read_text().splitlines())
    # make itself was interrupted too, and says so by dying of SIGINT once the launcher is done.
    assert ctrl_c(make_run["launcher"]) in (0, -signal.SIGINT)
    output = make_run["log"].read_text()
    after_ctrl_c = output.splitlines()[before:]
    assert "Traceback" not in output
    assert "Error" not in "\n".join(after_ctrl_c), after_ctrl_c
    assert len(after_ctrl_c) <= 3, after_ctrl_c
    assert after_ctrl_c[-1].startswith("Stopped the web server, the worker, the scheduler and the fakes, then Redis")
    left = subprocess.run(["pgrep", "-f", str(var_dir)], capture_output=True, text=True)
    assert left.stdout == "", f"processes left behind: {left.stdout}"


def test_environment_variables_win_over_the_local_settings_file(tmp_path):
    (tmp_path / "local.env").write_text("# comment\nDEBUG=true\nSECRET_KEY=from-the-file\nTIME_ZONE=Africa/Nairobi\n")
    code = "import django; django.setup(); from django.conf import settings as s; print(s.DEBUG, s.TIME_ZONE)"
    env = new_users_environment(tmp_path, TIME_ZONE="Europe/London", DJANGO_SETTINGS_MODULE="messaging_site.settings")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "Europe/London"]


def test_a_bad_line_in_the_local_settings_file_names_the_file_and_the_line(tmp_path):
    (tmp_path / "local.env").write_text("DEBUG=true\nthis is not a setting\n")
    env = new_users_environment(tmp_path, DJANGO_SETTINGS_MODULE="messaging_site.settings")
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "local.env line 2: 'this is not a setting' is not NAME=value" in result.stderr


@pytest.mark.parametrize(("level", "expect_enqueued"), [("WARNING", False), ("INFO", True)])
def test_the_cron_scheduler_logs_at_the_level_it_is_given_and_runs_the_reconciler(tmp_path, level, expect_enqueued):
    env = new_users_environment(
        tmp_path, DEBUG="true", LOCAL_ENV_FILE="", RECONCILE_INTERVAL_SECONDS="1", REDIS_URL=os.environ["REDIS_URL"]
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=BASE_DIR, env=env, check=True, timeout=300)
    log = tmp_path / "cron.log"
    with log.open("wb") as out:
        scheduler = subprocess.Popen(
            [sys.executable, "manage.py", "rqcron", "messaging_site.cron", "--logging-level", level],
            cwd=BASE_DIR,
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # The reconciler runs in the scheduler itself, every second here: no worker, no queue.
        deadline = time.monotonic() + 60
        while log.read_text().count("reconcile finished") < 3 and time.monotonic() < deadline:
            assert scheduler.poll() is None, log.read_text()
            time.sleep(0.2)
        assert log.read_text().count("reconcile finished") >= 3, log.read_text()
        assert django_rq.get_queue("high").count == 0  # nothing of it waits where single messages do
        assert django_rq.get_queue("default").count >= 1, "the scheduler enqueued nothing"  # its periodic jobs
    finally:
        scheduler.terminate()
        scheduler.wait(timeout=30)
    output = log.read_text()
    assert ("Enqueued job" in output) is expect_enqueued, output
    assert "Traceback" not in output
