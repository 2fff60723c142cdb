"""Deterministic synthetic city and complaints, so the backend can be demonstrated without data."""
