"""Test settings: the same stack, fast password hashing, a file SQLite DB workers can share."""
from config.settings.base import *  # noqa: F401,F403
from config.settings.base import DATA_DIR, DATABASES, REST_FRAMEWORK

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so a real Celery worker or a gunicorn process can open it.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test_db.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
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
