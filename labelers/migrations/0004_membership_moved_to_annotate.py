# Membership moved to the annotate app with its table (annotate/migrations/0008): only the state
# of the old model goes; the table stays.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("annotate", "0008_membership_moved_from_labelers"),
        ("labelers", "0003_drop_drf_authtoken"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Membership")],
            database_operations=[],
        ),
    ]
