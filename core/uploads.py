"""The first of FILE_UPLOAD_HANDLERS: a file in a request from nobody signed in is skipped, never
kept in memory nor written to a temporary file. Django parses a multipart body wherever
request.POST is read, and some readers come before any view could refuse an anonymous client
(the CSRF check reads its token from the body; the login form is for anonymous clients)."""
from django.core.files.uploadhandler import FileUploadHandler, SkipFile


class SignedInOnlyUploadHandler(FileUploadHandler):
    def new_file(self, *args, **kwargs):
        # DRF sets the Django request's user when it authenticates a token, before it parses.
        user = getattr(self.request, "user", None)
        if user is None or not user.is_authenticated:
            raise SkipFile()
        super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data, start):
        return raw_data  # the next handlers (memory, then a temporary file) keep it

    def file_complete(self, file_size):
        return None
