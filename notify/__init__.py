"""Notifications: alerts and contacts, the transactional outbox and the worker delivering it."""
