"""Writes of the labelers app: accounts (accounts.py), label quality: gold, qualification,
consensus and pauses (quality.py), gold tasks (gold.py), the review queue (review.py)."""
from labelers.services.accounts import membership_set, roles_ensure, user_create

__all__ = ["membership_set", "roles_ensure", "user_create"]
