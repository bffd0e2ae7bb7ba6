"""Gupshup WhatsApp provider: the provider class, its webhooks and its local fake."""
