"""A WSGI app that answers with its process id (for test_gunicorn_worker.py)."""
import os


def application(environ, start_response):
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
