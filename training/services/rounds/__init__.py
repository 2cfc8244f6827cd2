"""Rounds of the closed loop: flow (start, chain, retry, cancel), queue (active learning),
selectors (what the dashboard reads)."""
from training.services.rounds.flow import round_cancel, round_continue, round_job_finished, round_retry, round_start

__all__ = ["round_cancel", "round_continue", "round_job_finished", "round_retry", "round_start"]
