"""Users keep the admin page registered for them, with a delete page that counts instead of listing.

Django's would list every admin log entry deleted with the user, row by row: a member of staff who
deleted a selection of 100,000 contacts has 100,000 of them.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model

from contacts.admin.deletion import BoundedDeletion

User = get_user_model()
registered = type(admin.site.get_model_admin(User))
if not issubclass(registered, BoundedDeletion):
    admin.site.unregister(User)
    admin.site.register(User, type(f"Bounded{registered.__name__}", (BoundedDeletion, registered), {}))
