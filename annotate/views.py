"""HTML views of the annotation app. Thin: they call selectors and services."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from labelers.selectors import projects_for_user, user_is_admin


@login_required
def home(request):
    projects = projects_for_user(user=request.user).order_by("name")
    return render(request, "annotate/home.html", {"projects": projects, "is_admin": user_is_admin(request.user)})
