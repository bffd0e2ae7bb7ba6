"""`manage.py rqcron <config> --logging-level LEVEL`: django_rq's cron scheduler, at the level asked,
and the reconciler every RECONCILE_INTERVAL_SECONDS in a thread of its own (campaigns/pipeline/housekeeping.py).

RQ's scheduler sets up its own log handler at the level given, but only when its logger has no
handler to inherit; under Django's LOGGING the root has one, so the level was ignored and every
run printed "Enqueued job reconcile" at INFO. Here the level is put on the scheduler's logger.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django_rq.management.commands.rqcron import Command as DjangoRqCronCommand

from campaigns.pipeline.housekeeping import start_reconciler


class Command(DjangoRqCronCommand):
    def handle(self, *args, **options) -> None:
        logging.getLogger("rq.cron").setLevel(options["logging_level"])
        stop = start_reconciler(settings.RECONCILE_INTERVAL_SECONDS)
        try:
            super().handle(*args, **options)
        finally:
            stop.set()
