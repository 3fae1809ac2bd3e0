"""Notifications: every message goes through the outbox (``delivery``); an alert is fanned out to the guide's
channels (``alerts``)."""
