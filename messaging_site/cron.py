"""Periodic jobs, run by `manage.py rqcron messaging_site.cron` (started by `make run`).

The reconciler is not among them: the same command runs it in a thread of its own every
RECONCILE_INTERVAL_SECONDS (campaigns/pipeline/housekeeping.py), so it never waits on a queue and
never makes a campaign's job give way.
"""

from django.conf import settings
from rq import cron

from campaigns.api.idempotency import remove_expired_idempotency_keys
from campaigns.events.jobs import EVENTS_QUEUE, forget_old_events, tick
from campaigns.links import count_clicks
from campaigns.receiving import RECEIVING_QUEUE, receive_events
from campaigns.whatsapp.fallback import send_late_fallbacks
from campaigns.whatsapp.sync import sync_all_templates
from contacts.importing.retention import remove_old_import_files
from providers.sendbulk.dlr import poll_delivery_reports

# Receipts and replies the webhooks took: a job every second, of which one applies at a time (the
# others return at once); short-lived results and a queue wait of at most 30 s, so none pile up.
cron.register(receive_events, RECEIVING_QUEUE, interval=1, job_timeout=300, result_ttl=0, ttl=30)
# Clicks on tracked links, folded into their links' counts (the click log survives a Redis flush).
cron.register(count_clicks, RECEIVING_QUEUE, interval=5, job_timeout=120, result_ttl=0, ttl=30)
cron.register(poll_delivery_reports, "default", interval=60, job_timeout=300)
# Uploaded import files go CONTACT_IMPORT_KEEP_DAYS after upload; hourly, so within the hour.
cron.register(remove_old_import_files, "default", interval=3600, job_timeout=600)
# Idempotency keys are kept 24 hours; hourly, so a stored answer goes within 25 hours.
cron.register(remove_expired_idempotency_keys, "default", interval=3600, job_timeout=600)
# Event webhooks: a delivery job whenever events are due and none waits (the outbox survives a
# Redis flush and a killed worker; this is what picks it up again), and the old log forgotten daily.
cron.register(tick, EVENTS_QUEUE, interval=5, job_timeout=60)
cron.register(forget_old_events, EVENTS_QUEUE, interval=86400, job_timeout=3600)
# Approved WhatsApp templates, from each channel's provider (hourly by default).
cron.register(sync_all_templates, "default", interval=settings.TEMPLATE_SYNC_MINUTES * 60, job_timeout=600)
# SMS fallbacks for WhatsApp messages not delivered within their campaign's time (campaigns/whatsapp/fallback.py).
cron.register(send_late_fallbacks, "default", interval=settings.FALLBACK_CHECK_SECONDS, job_timeout=300)
