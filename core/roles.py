"""The global roles: a Django group per role says what a person may do in general (a
annotate.Membership says what they may do in one project)."""
from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    REVIEWER = "reviewer", "Reviewer"
    LABELER = "labeler", "Labeler"
