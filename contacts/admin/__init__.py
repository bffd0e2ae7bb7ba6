"""The contacts app's admin pages, one screen a module; importing them registers them."""

from contacts.admin import consent, contacts, imports, lists, suppression

__all__ = ["consent", "contacts", "imports", "lists", "suppression"]
