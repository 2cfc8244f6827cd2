"""Who may ask a model for a suggestion: any member of the project, with the project's model;
choosing the model or streaming (the playground) is for admins."""
from django.core.exceptions import PermissionDenied

from core.permissions import user_is_admin
from labelers.selectors import project_role


def suggestion_access_check(*, user, project=None, model_version=None, stream: bool = False) -> None:
    """PermissionDenied with the reason unless `user` may start this suggestion."""
    if user_is_admin(user):
        return
    if model_version is not None or stream:
        raise PermissionDenied("Only admins may choose the model or stream (the playground).")
    if project is None or project_role(user=user, project_id=project.pk) is None:
        raise PermissionDenied("You are not a member of this project.")
