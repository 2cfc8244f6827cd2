# API tokens moved from DRF's authtoken app to django-rest-knox, which stores digests. A database
# migrated before that still holds DRF's table, with every old token in plain text, and rows in
# django_migrations for an app no longer installed: both go. The old tokens were refused since the
# move; their owners make new ones (docs/operations.md, "Upgrading").

from django.db import migrations
from django.db.migrations.recorder import MigrationRecorder


def drop_plaintext_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if "authtoken_token" in connection.introspection.table_names():
        schema_editor.execute(f"DROP TABLE {schema_editor.quote_name('authtoken_token')}")
    MigrationRecorder(connection).migration_qs.filter(app="authtoken").delete()


class Migration(migrations.Migration):

    dependencies = [
        ('labelers', '0002_label_quality'),
    ]

    operations = [
        migrations.RunPython(drop_plaintext_tokens, migrations.RunPython.noop),
    ]
