"""The workspace's browser tests use the shared browser fixtures of the root conftest.py
(page_guard, login, one Chromium per session)."""
