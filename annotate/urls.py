from django.urls import path

from annotate import views

app_name = "annotate"
urlpatterns = [
    path("", views.home, name="home"),
    path("projects/<id:project_id>/work/", views.workspace, name="workspace"),
    path("projects/<id:project_id>/work/<id:assignment_id>/ranking/", views.ranking_post, name="ranking-submit"),
    path("projects/<id:project_id>/work/<id:assignment_id>/demonstration/", views.demonstration_post,
         name="demonstration-submit"),
    path("projects/<id:project_id>/work/<id:assignment_id>/skip/", views.skip_post, name="skip"),
    path("projects/<id:project_id>/preview/", views.markdown_preview, name="markdown-preview"),
]
