"""`make run`: the embedded default, served as a user would get it (DEBUG off: styled error
pages, no URL lists or tracebacks in the browser). `make dev` (DJANGO_DEBUG=1) turns DEBUG on."""
from config.settings.base import *  # noqa: F401,F403
from config.settings.base import env

DEBUG = env.bool("DJANGO_DEBUG", default=False)
