"""A database migrated by the previous release (Membership in labelers, leases unbounded) moves
forward with its rows: memberships keep working from annotate, their content type and
permissions follow, and out-of-range leases are brought to the bounds, on SQLite and on
PostgreSQL."""
import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("annotate", "0006_drop_lease_gate"), ("labelers", "0003_drop_drf_authtoken")]
AFTER = [("annotate", "0008_membership_moved_from_labelers"), ("labelers", "0004_membership_moved_to_annotate")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_memberships_and_leases_of_the_previous_release_move_forward(make_user):
    old = _migrate(BEFORE)
    Project, Membership = old.get_model("annotate", "Project"), old.get_model("labelers", "Membership")
    ct, _ = ContentType.objects.get_or_create(app_label="labelers", model="membership")
    ContentType.objects.filter(app_label="annotate", model="membership").delete()
    perm, _ = Permission.objects.get_or_create(content_type=ct, codename="change_membership",
                                               defaults={"name": "Can change membership"})
    user = make_user("old-labeler")
    short = Project.objects.create(name="short lease", lease_seconds=5)
    long = Project.objects.create(name="long lease", lease_seconds=10**9)
    Membership.objects.create(project=short, user_id=user.pk, role="labeler", is_paused=True, paused_reason="gold")
    Membership.objects.create(project=long, user_id=user.pk, role="reviewer")

    new = _migrate(AFTER)
    Project, Membership = new.get_model("annotate", "Project"), new.get_model("annotate", "Membership")
    assert sorted(Project.objects.values_list("lease_seconds", flat=True)) == [60, 7 * 24 * 3600]
    rows = sorted(Membership.objects.filter(user_id=user.pk).values_list("project__name", "role", "is_paused"))
    assert rows == [("long lease", "reviewer", False), ("short lease", "labeler", True)]
    moved = ContentType.objects.get(pk=ct.pk)
    assert (moved.app_label, moved.model) == ("annotate", "membership")
    assert Permission.objects.get(pk=perm.pk).content_type_id == ct.pk

    _migrate(BEFORE)  # and back: the content type returns, the rows stay
    old = _migrate(BEFORE)
    assert old.get_model("labelers", "Membership").objects.filter(user_id=user.pk).count() == 2
    assert ContentType.objects.get(pk=ct.pk).app_label == "labelers"
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())  # leave the test database as found
    from annotate.models import Membership as Current

    assert Current.objects.filter(user_id=user.pk).count() == 2
