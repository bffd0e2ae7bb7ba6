"""The reconciler's clock: it runs in the scheduler process (`manage.py rqcron`), not on a queue.

As an RQ job on ``high`` it made every campaign's dispatch job give way every few seconds (a
waiting job there is what a dispatch job hands its worker over for): the campaign lost its claim,
its place and, in a forking worker, its warm connections, for work that touches only the database.
Behind a campaign instead, it would wait for a whole dispatch job. In the scheduler it waits for
nobody and nobody waits for it; every step of it is safe beside the workers and beside another
scheduler's run (campaigns/pipeline/jobs.py).
"""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections

log = logging.getLogger(__name__)


def reconcile_every(seconds: float, stop: threading.Event) -> None:
    """Run the reconciler every ``seconds`` until ``stop`` is set; a failed run is logged, not fatal."""
    from campaigns.pipeline.jobs import reconcile

    while not stop.is_set():
        close_old_connections()  # a connection the database dropped since the last run is replaced
        try:
            reconcile()
        except Exception:
            log.exception("the reconciler failed; it runs again in %s s", seconds)
        stop.wait(seconds)


def start_reconciler(seconds: float) -> threading.Event:
    """Start the reconciler's thread in this process; set the returned event to stop it."""
    stop = threading.Event()
    threading.Thread(target=reconcile_every, args=(seconds, stop), name="reconciler", daemon=True).start()
    return stop
