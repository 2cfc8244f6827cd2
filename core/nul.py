"""A NUL character in a query parameter or a form field is a 400 before any view sees it: NUL is
never meaningful text, PostgreSQL refuses it in text columns (a 500 wherever a view passed it on),
and one check here covers every page and API. JSON bodies are checked by core.parsers.

A multipart body is checked here only for a signed-in session: parsing one spools its files to
disk, which a client nobody authenticated must not be able to make us do. The API parses the
others after DRF authenticates them (core.parsers.MultiPartParser); a page that needs a
signed-in user answers the anonymous client before reading its body."""
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import JsonResponse

from core.errors import refusal, too_big_message


def nul_field(data) -> str | None:
    for name, values in data.lists():
        if "\x00" in name or any(isinstance(v, str) and "\x00" in v for v in values):
            return name.replace("\x00", "\\u0000")
    return None


def _refuse(request, status: int, message: str, name: str = "detail"):
    if request.path.startswith("/api/") and name != "detail":
        return JsonResponse({name: [message]}, status=status)
    return refusal(request, status, message)


def _form_to_check(request) -> bool:
    """A urlencoded form always (Django reads it into memory, within DATA_UPLOAD_MAX_MEMORY_SIZE);
    a multipart one only when a session signed someone in (AuthenticationMiddleware runs first)."""
    if request.content_type == "application/x-www-form-urlencoded":
        return True
    return request.content_type == "multipart/form-data" and request.user.is_authenticated


class RejectNulMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        where, name = "query parameter", nul_field(request.GET)
        if name is None and request.method == "POST" and _form_to_check(request):
            try:
                where, name = "form field", nul_field(request.POST)
            except RequestDataTooBig:
                # Reading the form here consumed the body, so answer now rather than in the view.
                return _refuse(request, 413, too_big_message())
            except (TooManyFieldsSent, TooManyFilesSent) as exc:
                return _refuse(request, 400, str(exc))
        if name is None:
            return self.get_response(request)
        return _refuse(request, 400, f"The {where} {name!r} contains a NUL character.", name=name)
