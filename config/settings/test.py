"""Test settings: the same stack, fast password hashing, a file SQLite DB workers can share."""
import os
from pathlib import Path

# `make test` runs pytest-xdist workers side by side: each gets its own data folder (the SQLite
# file, the filesystem broker, exports, models) and, below, its own Redis key prefix, so a Celery
# worker one of them starts never takes the other's jobs. Subprocesses inherit the variable, and
# the folder check keeps them from nesting the folder twice.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if XDIST_WORKER:
    _data = Path(os.environ.get("RANKLAB_DATA_DIR") or Path(__file__).resolve().parents[2] / "var")
    if _data.name != XDIST_WORKER:
        os.environ["RANKLAB_DATA_DIR"] = str(_data / XDIST_WORKER)

from config.settings.base import *  # noqa: E402,F401,F403
from config.settings.base import CELERY_BROKER_TRANSPORT_OPTIONS, DATA_DIR, DATABASES, REDIS_URL, REST_FRAMEWORK  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so a real Celery worker or a gunicorn process can open it.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test_db.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
# Built once and only read afterwards (the tokenizer the tests load), so the workers share it.
TEST_CACHE_DIR = (DATA_DIR.parent if XDIST_WORKER else DATA_DIR) / "test-cache"
if XDIST_WORKER and REDIS_URL:
    CELERY_BROKER_TRANSPORT_OPTIONS = {**CELERY_BROKER_TRANSPORT_OPTIONS, "global_keyprefix": f"{XDIST_WORKER}:"}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
JOB_HEARTBEAT_INTERVAL = 1
# Tests make many requests as one user from one address: throttles that would not stop a suite
# (test_throttling.py sets low rates where it checks them).
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": "100000/min", "anon": "100000/min",
                                                               "token": "100000/min"}}
# In-process cache: tests clear it, and with Redis that would flush the broker's database too.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
