"""django-axes hooks: the client's address (behind NUM_PROXIES reverse proxies) and the answer to
a locked-out login, JSON for the API, the login page with the reason for a browser."""
from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render


def client_ip(request) -> str:
    """The address that counts for lockouts: the peer, or with NUM_PROXIES proxies in front, the
    address the outermost trusted proxy saw (as DRF's throttles count it)."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.NUM_PROXIES and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",")]
        return hops[-min(settings.NUM_PROXIES, len(hops))]
    return request.META.get("REMOTE_ADDR", "")


def lockout_message() -> str:
    minutes = round(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    return (f"Too many failed login attempts for this account or from this address: logging in is "
            f"locked for {minutes} minutes. Try again later, or ask an admin to unlock it.")


def lockout_response(request, original_response=None, credentials=None):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": lockout_message()}, status=429)
    return render(request, "registration/login.html", {"lockout": lockout_message(), "next": request.GET.get("next", "")},
                  status=429)
