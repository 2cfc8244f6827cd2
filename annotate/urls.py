from django.urls import path

from annotate import views, views_projects

app_name = "annotate"
urlpatterns = [
    path("", views.home, name="home"),
    path("projects/new/", views_projects.project_new, name="project-new"),
    path("projects/<int:project_id>/settings/", views_projects.project_edit, name="project-edit"),
    path("projects/guidelines-preview/", views_projects.guidelines_preview, name="guidelines-preview"),
    path("projects/<int:project_id>/work/", views.workspace, name="workspace"),
    path("projects/<int:project_id>/work/<int:assignment_id>/ranking/", views.ranking_post, name="ranking-submit"),
    path("projects/<int:project_id>/work/<int:assignment_id>/demonstration/", views.demonstration_post,
         name="demonstration-submit"),
    path("projects/<int:project_id>/work/<int:assignment_id>/skip/", views.skip_post, name="skip"),
    path("projects/<int:project_id>/preview/", views.markdown_preview, name="markdown-preview"),
]
