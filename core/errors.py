"""DRF validation errors as one sentence, for the HTML forms that share the API's serializers."""
from __future__ import annotations


def errors_text(errors) -> str:
    """{"tiers": {0: ["A valid integer is required."]}} → "tiers[0]: A valid integer is required." """
    parts: list[str] = []

    def walk(value, path: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key in ("non_field_errors", "detail"):
                    walk(inner, path)
                elif isinstance(key, int):
                    walk(inner, f"{path}[{key}]")
                else:
                    walk(inner, f"{path}.{key}" if path else str(key))
        elif isinstance(value, (list, tuple)):
            for inner in value:
                walk(inner, path)
        else:
            parts.append(f"{path}: {value}" if path else str(value))

    walk(errors, "")
    return " ".join(parts)


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def refusal(request, status: int, message: str):
    """A refused request (400 or 413) with its sentence: JSON under /api/, the text alone for an
    htmx request (the workspace shows it beside the form), otherwise the styled page with a way back."""
    from django.http import HttpResponse, JsonResponse
    from django.shortcuts import render

    if _is_api(request):
        return JsonResponse({"detail": message}, status=status)
    if request.headers.get("HX-Request") == "true":
        return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    return render(request, f"{status}.html", {"message": message}, status=status)


def too_big_message() -> str:
    from django.conf import settings

    return (f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes "
            "(DATA_UPLOAD_MAX_MEMORY_SIZE); files go in a multipart upload.")


def bad_request(request, exception):
    """Django's error views, in JSON under /api/ (a client of the API reads JSON, whatever failed).
    A body over Django's size limit is a 413 with its sentence; other reasons stay unsaid (a
    SuspiciousOperation's text is for the log, not for the client)."""
    from django.core.exceptions import RequestDataTooBig
    from django.http import JsonResponse
    from django.views import defaults

    if isinstance(exception, RequestDataTooBig):
        return refusal(request, 413, too_big_message())
    if _is_api(request):
        return JsonResponse({"detail": "Bad request: the request could not be read."}, status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request, exception):
    from django.http import JsonResponse
    from django.views import defaults

    if _is_api(request):
        return JsonResponse({"detail": str(exception) or "You do not have permission to do this."}, status=403)
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception):
    from django.http import JsonResponse
    from django.views import defaults

    if _is_api(request):
        return JsonResponse({"detail": "Not found: no such API endpoint or object."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    from django.http import JsonResponse
    from django.views import defaults

    if _is_api(request):
        return JsonResponse({"detail": "Server error: the request failed on our side; it has been logged."},
                            status=500)
    return defaults.server_error(request)
