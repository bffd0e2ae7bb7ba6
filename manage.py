#!/usr/bin/env python
import os
import sys

# Commands that sign nothing may run before the checkout is configured (a migrations check in a
# pre-commit hook, say): they get a throwaway key. Everything that serves or sends still needs
# SECRET_KEY when DEBUG is off.
KEYLESS_COMMANDS = {"makemigrations", "showmigrations", "sqlmigrate", "check"}

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_site.settings")
    if sys.argv[1:2] and sys.argv[1] in KEYLESS_COMMANDS:
        os.environ.setdefault("SECRET_KEY", f"unused-by-{sys.argv[1]}")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
