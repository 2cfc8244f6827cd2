"""A NUL character in a query parameter or a form field is a 400 before any view sees it: NUL is
never meaningful text, PostgreSQL refuses it in text columns (a 500 wherever a view passed it on),
and one check here covers every page and API. JSON bodies are checked by core.parsers."""
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpResponse, JsonResponse

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _nul_field(data) -> str | None:
    for name, values in data.lists():
        if "\x00" in name or any(isinstance(v, str) and "\x00" in v for v in values):
            return name.replace("\x00", "\\u0000")
    return None


def _refuse(request, status: int, message: str, name: str = "detail"):
    if request.path.startswith("/api/"):
        return JsonResponse({name: [message] if name != "detail" else message}, status=status)
    # Plain text: the workspace shows it as it is, and a browser shows the sentence.
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


class RejectNulMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        where, name = "query parameter", _nul_field(request.GET)
        if name is None and request.method == "POST" and request.content_type in FORM_TYPES:
            try:
                where, name = "form field", _nul_field(request.POST)
            except RequestDataTooBig:
                # Reading the form here consumed the body, so answer now rather than in the view.
                return _refuse(request, 413, f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} "
                                             "bytes (DATA_UPLOAD_MAX_MEMORY_SIZE); files go in a multipart upload.")
            except (TooManyFieldsSent, TooManyFilesSent) as exc:
                return _refuse(request, 400, str(exc))
        if name is None:
            return self.get_response(request)
        return _refuse(request, 400, f"The {where} {name!r} contains a NUL character.", name=name)
