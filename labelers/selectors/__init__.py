"""Reads of the labelers app: who may see what (access.py), labeler and project statistics
(stats.py), the review queue (review.py) and calibration feedback (calibration.py)."""
from labelers.selectors.access import admin_check, project_role, user_is_admin, user_is_reviewer

__all__ = ["admin_check", "project_role", "user_is_admin", "user_is_reviewer"]
