from django.urls import path

from training import apis, apis_rounds

app_name = "training-api"
urlpatterns = [
    path("models/", apis.ModelListApi.as_view(), name="model-list"),
    path("models/<id:model_id>/", apis.ModelDetailApi.as_view(), name="model-detail"),
    path("models/<id:model_id>/lineage/", apis.ModelLineageApi.as_view(), name="model-lineage"),
    path("projects/<id:project_id>/sampling-models/", apis.ProjectSamplingModelsApi.as_view(),
         name="project-sampling-models"),
    path("generations/", apis.GenerationStartApi.as_view(), name="generation-start"),
    path("suggestions/", apis.SuggestionStartApi.as_view(), name="suggestion-start"),
    path("rounds/", apis_rounds.RoundListApi.as_view(), name="round-list"),
    path("rounds/<id:round_id>/", apis_rounds.RoundDetailApi.as_view(), name="round-detail"),
    path("rounds/<id:round_id>/retry/", apis_rounds.RoundRetryApi.as_view(), name="round-retry"),
    path("rounds/<id:round_id>/continue/", apis_rounds.RoundContinueApi.as_view(), name="round-continue"),
    path("rounds/<id:round_id>/cancel/", apis_rounds.RoundCancelApi.as_view(), name="round-cancel"),
    path("trainings/", apis_rounds.TrainingStartApi.as_view(), name="training-start"),
    path("evaluations/", apis_rounds.EvaluationStartApi.as_view(), name="evaluation-start"),
]
