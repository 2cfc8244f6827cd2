from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.authtoken.views import obtain_auth_token


class FaviconView(RedirectView):
    """Browsers and feed readers ask for /favicon.ico whatever a page links to."""

    permanent = True

    def get_redirect_url(self, *args, **kwargs):
        return static("ranklab/favicon.svg")  # at request time: a manifest storage may hash the name


urlpatterns = [
    path("favicon.ico", FaviconView.as_view()),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/auth/token/", obtain_auth_token, name="api-token"),
    # The split view serves Swagger UI's start-up script as a file, so the strict CSP holds there too.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
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
