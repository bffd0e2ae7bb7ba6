#!/usr/bin/env python
"""Django's command line for this project: `python manage.py <command>`.

Run by any Python 3: when Django is not importable (the system's python, outside the venv) it
re-runs itself with the checkout's .venv/bin/python, which `make run` and `make test` create.
"""

import base64
import os
import sys
from pathlib import Path

# Commands that sign nothing may run before the checkout is configured (a migrations check in a
# pre-commit hook, say): they get a throwaway key. Everything that serves or sends still needs
# SECRET_KEY and CREDENTIALS_KEY when DEBUG is off (after `make run`, var/local.env holds both).
KEYLESS_COMMANDS = {"makemigrations", "showmigrations", "sqlmigrate", "check"}
VENV_PYTHON = Path(__file__).resolve().parent / ".venv" / "bin" / "python"
REEXEC_MARK = "MESSAGING_MANAGE_IN_VENV"


def use_the_checkouts_venv() -> None:
    """Re-run under .venv/bin/python if this Python has no Django (once: the mark stops a loop)."""
    try:
        import django  # noqa: F401
    except ImportError:
        if VENV_PYTHON.exists() and not os.environ.get(REEXEC_MARK):
            os.environ[REEXEC_MARK] = "1"
            os.execv(VENV_PYTHON, [str(VENV_PYTHON), *sys.argv])  # noqa: S606
        sys.exit(
            "Django is not installed for this Python and there is no .venv in this checkout yet: "
            "run `make run` once (it creates .venv), then `python manage.py ...` again."
        )


if __name__ == "__main__":
    use_the_checkouts_venv()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_site.settings")
    if sys.argv[1:2] and sys.argv[1] in KEYLESS_COMMANDS:
        os.environ.setdefault("SECRET_KEY", f"unused-by-{sys.argv[1]}")
        os.environ.setdefault("CREDENTIALS_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())  # decrypts nothing
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
