"""A database migrated while API tokens were DRF's authtoken (plain-text keys) loses that table and
the app's migration records on upgrade, on SQLite and on PostgreSQL."""
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

BEFORE = [("labelers", "0002_label_quality")]
AFTER = [("labelers", "0003_drop_drf_authtoken")]


@pytest.mark.django_db(transaction=True)
def test_the_plaintext_token_table_of_drf_authtoken_is_dropped(make_user):
    user = make_user("old-api-user")
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    with connection.schema_editor() as editor:  # the table as rest_framework.authtoken made it
        editor.execute("CREATE TABLE authtoken_token (key varchar(40) NOT NULL PRIMARY KEY, created timestamp "
                       "NOT NULL, user_id bigint NOT NULL UNIQUE REFERENCES auth_user (id))")
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, CURRENT_TIMESTAMP, %s)",
                       ["9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b", user.pk])
    recorder = MigrationRecorder(connection)
    for name in ("0001_initial", "0002_auto_20160226_1747", "0003_tokenproxy", "0004_alter_tokenproxy_options"):
        recorder.record_applied("authtoken", name)

    MigrationExecutor(connection).migrate(AFTER)
    assert "authtoken_token" not in connection.introspection.table_names()
    assert not recorder.migration_qs.filter(app="authtoken").exists()
    MigrationExecutor(connection).migrate(BEFORE)  # and back (nothing to restore), then forward again
    MigrationExecutor(connection).migrate(AFTER)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())  # leave the test database as found
