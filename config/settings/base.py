"""Settings shared by every environment, read from the environment through django-environ.

The embedded default needs nothing installed: SQLite in RANKLAB_DATA_DIR and kombu's
filesystem broker. Set DATABASE_URL and REDIS_URL to run the same code on PostgreSQL + Redis.
"""
from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DATA_DIR = Path(env("RANKLAB_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)
MODELS_DIR = DATA_DIR / "models"
EXPORTS_DIR = DATA_DIR / "exports"

SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-insecure-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.forms",
    "rest_framework",
    "knox",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "jobs",
    "annotate",
    "labelers",
    "exports",
    "training",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",
    "core.nul.RejectNulMiddleware",
    # Last, as django-axes asks: it turns a lockout flagged during login into its response.
    "axes.middleware.AxesMiddleware",
]
# Flash messages live in the session: the default tries a signed cookie first and builds its
# signer on every request, a cost on the labeler's hot path (docs/benchmarks.md).
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.roles",
            ],
        },
    },
]

# Forms render through the project's templates (templates/forms/field.html: checkboxes beside their labels).
FORM_RENDERER = "core.forms.FormRenderer"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
# A persistent connection the server dropped (a restart, pg_terminate_backend) is found and
# replaced at the start of a request instead of failing it.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout: readers never block the writer, writers queue instead of failing.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
IS_POSTGRES = DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql")
if IS_POSTGRES and env.bool("DB_SERVER_SIDE_BINDING", default=True):
    # Server-side binding lets psycopg prepare a statement once it has run prepare_threshold
    # times on a connection, so PostgreSQL plans the labeler hot path's statements once per
    # connection instead of on every request.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"server_side_binding": True, "prepare_threshold": 2})

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-axes first: it refuses a login while the account or the client address is locked out.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True

# Addresses of clients: how many reverse proxies stand in front of the web process, each adding
# itself to X-Forwarded-For (0: use the peer address). Throttles and login lockouts count per address.
NUM_PROXIES = env.int("DJANGO_NUM_PROXIES", default=0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.authentication.SessionAuthentication",
        "core.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.JSONParser",
        "core.parsers.FormParser",
        "core.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    # Per user (or per address, for anonymous requests). A labeler's page makes two requests per
    # answer, a script a few per second; the rates stop a runaway client, not normal work.
    "DEFAULT_THROTTLE_RATES": {
        "user": env("API_THROTTLE_USER", default="3000/min"),
        "anon": env("API_THROTTLE_ANON", default="120/min"),
        "token": env("API_THROTTLE_TOKEN", default="30/min"),
    },
    "NUM_PROXIES": NUM_PROXIES or None,
}
# The deepest JSON a client may send (API bodies and the workspace forms' JSON fields).
API_JSON_MAX_DEPTH = env.int("API_JSON_MAX_DEPTH", default=32)
# Request bodies: Django refuses a non-file body larger than this (the API answers 413 in JSON);
# uploaded files (imports) go to a temporary file instead and are capped by IMPORT_MAX_UPLOAD_BYTES.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
# Django's handlers, after one that skips the files of anonymous requests (core/uploads.py).
FILE_UPLOAD_HANDLERS = [
    "core.uploads.SignedInOnlyUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# API tokens (django-rest-knox): stored as SHA-512 digests; a token lapses after API_TOKEN_TTL_DAYS
# (0: never).
_token_days = env.float("API_TOKEN_TTL_DAYS", default=90)
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=_token_days) if _token_days > 0 else None,
    "AUTH_HEADER_PREFIX": "Token",
    "TOKEN_LIMIT_PER_USER": env.int("API_TOKEN_LIMIT_PER_USER", default=100),
}

# Login lockout (django-axes), for the login page and the token endpoint alike: after
# AXES_FAILURE_LIMIT failed passwords for one account, or from one address, further attempts are
# refused, even with the right password, for AXES_COOLOFF_MINUTES.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# Failures expire with the cool-off, never on a success: a success would delete every failure
# matching its username OR its address, so one's own login would wipe the count of guesses made
# from the same address at someone else's account.
AXES_RESET_ON_SUCCESS = False
AXES_CLIENT_IP_CALLABLE = "core.lockout.client_ip"
AXES_LOCKOUT_CALLABLE = "core.lockout.lockout_response"
AXES_COOLOFF_MESSAGE = "Too many failed login attempts: logging in is locked for this account or address; try again later."
AXES_VERBOSE = False

# Imports: the largest upload, the most text a (gzipped) file may decompress to, and the most
# records one import may hold; each refusal says which limit to raise.
IMPORT_MAX_UPLOAD_BYTES = env.int("IMPORT_MAX_UPLOAD_BYTES", default=512 * 2**20)
IMPORT_MAX_DECOMPRESSED_BYTES = env.int("IMPORT_MAX_DECOMPRESSED_BYTES", default=2 * 2**30)
IMPORT_MAX_RECORDS = env.int("IMPORT_MAX_RECORDS", default=1_000_000)

# The OpenAPI schema only changes with the code: it is built once and kept this long.
API_SCHEMA_CACHE_SECONDS = env.int("API_SCHEMA_CACHE_SECONDS", default=3600)
SPECTACULAR_SETTINGS = {
    "TITLE": "Ranklab API",
    "DESCRIPTION": "Human feedback for language models: prompts, rankings, demonstrations, exports, training.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"ModelKindEnum": "training.models.ModelKind"},
    # Every operation documents the errors the API answers with (core/openapi.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "core.openapi.error_responses"],
    # Swagger UI from the drf-spectacular-sidecar package: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery -------------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
BROKER_DIR = DATA_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 6 * 3600}
else:
    # kombu's filesystem transport: a broker that needs no server, for `make run` on a laptop.
    for sub in ("in", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "in"),
        "data_folder_out": str(BROKER_DIR / "in"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
CACHES = {
    # Shared by the web processes (throttle counts, the schema); without Redis, each process has its own.
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                "KEY_PREFIX": "ranklab"} if REDIS_URL else
               {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BEAT_SCHEDULER = "celery.beat:PersistentScheduler"
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = TIME_ZONE

# --- Ranklab ------------------------------------------------------------------------------
# A running job writes a heartbeat at least this often; the sweeper treats silence for
# JOB_HEARTBEAT_TIMEOUT seconds as a dead worker.
JOB_HEARTBEAT_INTERVAL = env.int("JOB_HEARTBEAT_INTERVAL", default=10)
JOB_HEARTBEAT_TIMEOUT = env.int("JOB_HEARTBEAT_TIMEOUT", default=120)
JOB_SWEEP_INTERVAL = env.int("JOB_SWEEP_INTERVAL", default=30)
JOB_MAX_ATTEMPTS = env.int("JOB_MAX_ATTEMPTS", default=3)
# A queued job whose message has not reached the broker this long after it was queued is sent
# again by the sweeper (the broker was down when it was made).
JOB_SEND_GRACE = env.int("JOB_SEND_GRACE", default=30)
DEFAULT_LEASE_SECONDS = env.int("DEFAULT_LEASE_SECONDS", default=30 * 60)
BUNDLED_MODEL_NAME = "SmolLM2-135M-Instruct"
# How training jobs start a trainer; it is followed by the module and `--config spec.json`.
# Default: `python -m`. Several GPUs: "accelerate launch --num_processes 4 -m" or
# "torchrun --nproc-per-node 4 -m" (docs/operations.md).
TRAINER_LAUNCHER = env("RANKLAB_TRAINER_LAUNCHER", default="")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}
