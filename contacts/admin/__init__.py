"""The contacts app's admin pages, one screen a module; importing them registers them."""

from contacts.admin import contacts, imports, lists
from contacts.admin.contacts import ContactResource

__all__ = ["ContactResource", "contacts", "imports", "lists"]
