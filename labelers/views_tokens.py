"""The caller's own API tokens, as a page: list, create (shown once), revoke."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from labelers.services.tokens import token_create, token_revoke, tokens_for_user


@login_required
def tokens_page(request, new_token: str = "", status: int = 200):
    return render(request, "labelers/tokens.html", {"tokens": tokens_for_user(user=request.user),
                                                    "new_token": new_token}, status=status)


@never_cache  # the new token is in this response only: no browser or proxy cache may keep it
@login_required
@require_POST
def token_create_view(request):
    try:
        _, token = token_create(user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("labelers:tokens")
    # Rendered, not redirected: the token is shown this once and never stored in the clear.
    return tokens_page(request, new_token=token, status=201)


@login_required
@require_POST
def token_revoke_view(request, key: str):
    try:
        token_revoke(user=request.user, token_key=key)
        messages.success(request, "Token revoked.")
    except ObjectDoesNotExist as exc:
        messages.error(request, str(exc))
    return redirect("labelers:tokens")
