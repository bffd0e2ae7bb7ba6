"""Which fields contacts have for placeholders, and how many recipients lack the ones a text needs.

The fields are ``name``, ``first_name``, ``phone`` and whatever extra fields imports brought in
(``extra_fields`` keys). Listing every key of a million contacts would scan them all, so the
keys are read from the most recently added contacts only (imports add whole batches that share
their columns, so a few thousand show them all).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Length, Trim

from campaigns.content.personalisation import BUILT_IN_FIELDS, compile_text
from contacts.models import Contact

RECENT_CONTACTS = 5000
# A key a placeholder can name (others, e.g. "2nd line", could never be filled in, so are not offered).
FIELD_NAME = re.compile(r"[A-Za-z_]\w*", re.ASCII)
MAX_FIELDS = 200


def contact_field_names(recent: int = RECENT_CONTACTS, limit: int = MAX_FIELDS) -> list[str]:
    """name, first_name, phone, then the extra fields seen on recent contacts, sorted."""
    rows = Contact.objects.order_by("-id").values_list("extra_fields", flat=True)[:recent]
    extra: set[str] = set()
    for fields in rows:
        if isinstance(fields, dict):
            extra.update(key for key in fields if isinstance(key, str) and FIELD_NAME.fullmatch(key))
    extra.difference_update(BUILT_IN_FIELDS)
    return [*BUILT_IN_FIELDS, *sorted(extra)[: max(0, limit - len(BUILT_IN_FIELDS))]]


def lacking(field: str) -> Q:
    """Contacts with no value for a field (absent, null or blank), as a database condition."""
    if field in ("name", "first_name"):
        return Q(name_length=0)
    if field == "phone":
        return Q(pk__in=[])  # every contact has a number
    path = "extra_fields__" + field.replace(".", "__")
    return Q(**{f"{path}__isnull": True}) | Q(**{path: ""}) | Q(**{path: None})


def count_lacking(text: str, contacts: QuerySet[Contact], fields: Iterable[str] | None = None) -> dict[str, int]:
    """For each field the text needs with no default, how many of these contacts have no value.

    One query for the whole audience. A value that is only spaces counts as a value here (the
    renderer treats it as blank), which the database cannot check portably.
    """
    compiled = compile_text(text)
    needed = list(fields) if fields is not None else compiled.names
    with_default = {p.name for p in compiled.placeholders if p.default is not None}
    without_default = {p.name for p in compiled.placeholders if p.default is None}
    needed = [name for name in needed if name in without_default or name not in with_default]
    if not needed:
        return {}
    counts = contacts.annotate(name_length=Length(Trim("name"))).aggregate(
        **{f"field_{i}": Count("pk", distinct=True, filter=lacking(name)) for i, name in enumerate(needed)}
    )
    return {name: counts[f"field_{i}"] for i, name in enumerate(needed)}
