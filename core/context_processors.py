"""Template context every page needs: the user's global roles, for the navigation."""
from core.permissions import user_is_admin, user_is_reviewer


def roles(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_is_admin": False, "nav_is_reviewer": False}
    return {"nav_is_admin": user_is_admin(user), "nav_is_reviewer": user_is_reviewer(user)}
