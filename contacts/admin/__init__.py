"""The contacts app's admin pages, one screen a module; importing them registers them."""

from contacts.admin import contacts, imports, lists, suppression

__all__ = ["contacts", "imports", "lists", "suppression"]
