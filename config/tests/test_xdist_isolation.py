"""`make test` runs two pytest-xdist workers: each must have its own data folder (SQLite file,
filesystem broker, exports) and Redis key prefix, or a Celery worker started by one test process
takes the other's jobs. Checked by loading the test settings as a worker, and as a subprocess
that worker starts (which inherits the variables), would."""
import json
import os
import subprocess
import sys

from django.conf import settings

# The settings module alone (no django.setup(), which would import every app for nothing).
CODE = ("import json; from config.settings import test as s; "
        "print(json.dumps({'data': str(s.DATA_DIR), 'test_db': s.DATABASES['default'].get('TEST', {}).get('NAME'), "
        "'broker': s.CELERY_BROKER_TRANSPORT_OPTIONS, 'exports': str(s.EXPORTS_DIR)}))")


def _settings_as(tmp_path, **env):
    full = {k: v for k, v in os.environ.items() if k not in ("PYTEST_XDIST_WORKER", "DATABASE_URL")}
    full.update(DJANGO_SETTINGS_MODULE="config.settings.test", REDIS_URL="redis://127.0.0.1:6379/9", **env)
    out = subprocess.run([sys.executable, "-c", CODE], cwd=settings.BASE_DIR, env=full, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


def test_each_xdist_worker_gets_its_own_data_folder_and_redis_prefix(tmp_path):
    alone = _settings_as(tmp_path, RANKLAB_DATA_DIR=str(tmp_path))
    assert alone["data"] == str(tmp_path) and "global_keyprefix" not in alone["broker"]

    gw1 = _settings_as(tmp_path, RANKLAB_DATA_DIR=str(tmp_path), PYTEST_XDIST_WORKER="gw1")
    assert gw1["data"] == str(tmp_path / "gw1") and gw1["exports"] == str(tmp_path / "gw1" / "exports")
    assert gw1["test_db"] == str(tmp_path / "gw1" / "test_db.sqlite3")
    assert gw1["broker"]["global_keyprefix"] == "gw1:"

    # A Celery worker or server started by gw1 gets gw1's folder and keeps it, not gw1/gw1.
    child = _settings_as(tmp_path, RANKLAB_DATA_DIR=gw1["data"], PYTEST_XDIST_WORKER="gw1")
    assert child["data"] == gw1["data"] and child["broker"]["global_keyprefix"] == "gw1:"
