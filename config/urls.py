from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/auth/token/", obtain_auth_token, name="api-token"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("annotate.api_urls")),
    path("api/", include("labelers.api_urls")),
    path("api/", include("exports.api_urls")),
    path("api/", include("training.api_urls")),
    path("api/", include("jobs.api_urls")),
    path("labelers/", include("labelers.urls")),
    path("exports/", include("exports.urls")),
    path("training/", include("training.urls")),
    path("jobs/", include("jobs.urls")),
    path("rounds/", include("training.urls_rounds")),
    path("", include("annotate.urls")),
]
