"""Inbound adapters: the webhook, event handlers, conversation flows, console pages, the API."""
