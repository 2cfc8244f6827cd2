"""PostgreSQL: the function that lets a labeler's next-task call be one statement
(annotate.services.assignments._lease_real_at_once). Nothing on SQLite.

The function names the membership, project and assignment columns and the 'active' and 'passed'
states itself: a later migration that renames or changes them must replace it (CREATE OR REPLACE)."""
from django.db import migrations

GATE = """
CREATE OR REPLACE FUNCTION annotate_lease_gate(p_user bigint, p_project bigint, p_now timestamptz,
                                               p_roll double precision) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- The membership row lock serialises one labeler's own next-task calls (two tabs get one
    -- lease), and nobody else's. Only a labeler who may get a real task now passes: a member,
    -- not paused, qualified if the project asks for it, and not drawn for a gold task.
    PERFORM 1 FROM labelers_membership m JOIN annotate_project p ON p.id = m.project_id
     WHERE m.user_id = p_user AND m.project_id = p_project AND NOT m.is_paused
       AND (NOT p.qualification_required OR m.qualification_status = 'passed')
       AND NOT (p.gold_rate > 0 AND p_roll < p.gold_rate)
       FOR UPDATE OF m;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    -- A new statement, so a new snapshot: it sees the lease a call this one waited for took.
    RETURN NOT EXISTS (SELECT 1 FROM annotate_assignment a WHERE a.labeler_id = p_user
                        AND a.project_id = p_project AND a.state = 'active' AND a.expires_at > p_now);
END
$$;
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS annotate_lease_gate(bigint, bigint, timestamptz, double precision)")


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0003_label_quality"),
        ("labelers", "0002_label_quality"),
    ]

    operations = [migrations.RunPython(create, drop)]
