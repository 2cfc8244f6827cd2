import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from annotate.checks import default_lease_within_bounds


@pytest.mark.parametrize("value", [0, 59, 7 * 24 * 3600 + 1, 10**12])
def test_a_default_lease_outside_a_minute_to_a_week_stops_manage_py_with_a_sentence(settings, value):
    settings.DEFAULT_LEASE_SECONDS = value
    [error] = default_lease_within_bounds()
    assert error.id == "annotate.E001" and f"DEFAULT_LEASE_SECONDS is {value}" in error.msg
    with pytest.raises(SystemCheckError, match="a lease lasts from 60 seconds"):
        call_command("check")


@pytest.mark.parametrize("value", [60, 1800, 7 * 24 * 3600])
def test_a_default_lease_within_bounds_passes(settings, value):
    settings.DEFAULT_LEASE_SECONDS = value
    assert default_lease_within_bounds() == []
