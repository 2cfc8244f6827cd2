"""Content negotiation for the API (its own module: DRF imports the class named in its settings
while its views module loads, so it cannot live in config.api)."""
from rest_framework.negotiation import DefaultContentNegotiation


class ContentNegotiation(DefaultContentNegotiation):
    """DRF's default negotiation, answered without parsing in the common case: no format
    override, and an Accept header that is absent, `*/*`, or exactly the first renderer's media
    type (what fetch(), http clients and the bench send). DRF reads the header through
    `request.headers`, which copies every header of the request, then parses it into media types:
    0.7 % of the instructions of a labeler's next + submit cycle (docs/benchmarks.md). The answer
    is the one DRF gives (a test holds them equal); anything else goes through DRF's code."""

    def select_renderer(self, request, renderers, format_suffix=None):
        if not format_suffix and renderers:
            first = renderers[0]
            if (request.META.get("HTTP_ACCEPT", "*/*") in ("*/*", first.media_type)
                    and self.settings.URL_FORMAT_OVERRIDE not in request.query_params):
                return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
