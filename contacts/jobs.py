"""Bulk list work too big for one web request, done by a worker.

Adding a million contacts to a list is one INSERT ... SELECT, but with its index and foreign-key
upkeep it takes most of a minute on a busy 2-core machine: longer than a web worker may hold a
request (gunicorn's default timeout is 30 s). Above BACKGROUND_FROM contacts the admin hands the
same statement to RQ, with the selection as a pickled query (never a list of ids).
"""

from __future__ import annotations

import logging

import django_rq
from django.db import transaction
from django.db.models import QuerySet

from contacts.models import Contact, ContactList

log = logging.getLogger(__name__)
BACKGROUND_FROM = 100_000
JOB_TIMEOUT_SECONDS = 3600


def add_to_list_job(list_id: int, selection_query) -> dict[str, int]:
    """Put every contact the query selects into the list; returns the counts (kept by RQ)."""
    contact_list = ContactList.objects.filter(pk=list_id).first()
    if contact_list is None:
        log.warning("list %s was deleted before its contacts could be added", list_id)
        return {"added": 0, "already": 0}
    contacts = Contact.objects.all()
    contacts.query = selection_query
    added, already = contact_list.add_contacts(contacts)
    log.info("list %s (%s): %s contacts added, %s already in it", list_id, contact_list.name, added, already)
    return {"added": added, "already": already}


def add_in_background(contact_list: ContactList, contacts: QuerySet) -> None:
    """Queue add_to_list_job once the list (perhaps created just now) is committed."""
    query = contacts.order_by().query

    def enqueue() -> None:
        django_rq.get_queue("default").enqueue(add_to_list_job, contact_list.pk, query, job_timeout=JOB_TIMEOUT_SECONDS)

    transaction.on_commit(enqueue)
