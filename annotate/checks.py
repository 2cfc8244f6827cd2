"""System checks for annotate's settings: a bad value stops `manage.py` with a sentence at start-up
instead of failing the first project that is saved with it."""
from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.compatibility)
def default_lease_within_bounds(app_configs=None, **kwargs):
    from annotate.models import LEASE_SECONDS_MAX, LEASE_SECONDS_MIN

    value = settings.DEFAULT_LEASE_SECONDS
    if LEASE_SECONDS_MIN <= value <= LEASE_SECONDS_MAX:
        return []
    return [checks.Error(
        f"DEFAULT_LEASE_SECONDS is {value}: a lease lasts from {LEASE_SECONDS_MIN} seconds (a minute) to "
        f"{LEASE_SECONDS_MAX} seconds (a week).",
        hint="Set DEFAULT_LEASE_SECONDS in the environment to a value in that range (the default is 1800).",
        id="annotate.E001",
    )]
