from django.urls import path

from annotate import apis

app_name = "annotate-api"
urlpatterns = [
    path("projects/<id:project_id>/assignments/next/", apis.AssignmentNextApi.as_view(), name="assignment-next"),
    path("projects/<id:project_id>/progress/", apis.ProgressApi.as_view(), name="workspace-progress"),
    path("assignments/<id:assignment_id>/", apis.AssignmentDetailApi.as_view(), name="assignment-detail"),
    path("assignments/<id:assignment_id>/ranking/", apis.RankingSubmitApi.as_view(), name="ranking-submit"),
    path("assignments/<id:assignment_id>/ranking-and-next/", apis.RankingSubmitAndNextApi.as_view(),
         name="ranking-submit-and-next"),
    path("assignments/<id:assignment_id>/demonstration/", apis.DemonstrationSubmitApi.as_view(),
         name="demonstration-submit"),
    path("assignments/<id:assignment_id>/skip/", apis.SkipApi.as_view(), name="assignment-skip"),
    path("assignments/<id:assignment_id>/renew/", apis.LeaseRenewApi.as_view(), name="assignment-renew"),
    path("assignments/<id:assignment_id>/suggestions/", apis.SuggestionApi.as_view(), name="assignment-suggestion"),
]
