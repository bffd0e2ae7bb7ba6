"""`manage.py rqcron <config> --logging-level LEVEL`: django_rq's cron scheduler, at the level asked.

RQ's scheduler sets up its own log handler at the level given, but only when its logger has no
handler to inherit; under Django's LOGGING the root has one, so the level was ignored and every
run printed "Enqueued job reconcile" at INFO. Here the level is put on the scheduler's logger.
"""

from __future__ import annotations

import logging

from django_rq.management.commands.rqcron import Command as DjangoRqCronCommand


class Command(DjangoRqCronCommand):
    def handle(self, *args, **options) -> None:
        logging.getLogger("rq.cron").setLevel(options["logging_level"])
        super().handle(*args, **options)
