"""config.negotiation.ContentNegotiation answers as DRF's DefaultContentNegotiation does."""
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer, StaticHTMLRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from config.negotiation import ContentNegotiation

RENDERER_LISTS = [
    [JSONRenderer(), BrowsableAPIRenderer()],
    [BrowsableAPIRenderer(), JSONRenderer()],
    [JSONRenderer()],
    [StaticHTMLRenderer(), JSONRenderer()],
]
ACCEPTS = [None, "", "*/*", "application/json", "text/html", "application/json; indent=4", "*/*;q=0.5",
           "APPLICATION/JSON", "application/*", "text/html,application/xhtml+xml,*/*;q=0.8",
           "application/json, */*", "text/plain", " application/json", "application/json ", "*/* "]
QUERIES = ["", "format=json", "format=api", "format=xml", "x=1", "format="]


def outcome(negotiation, accept, query, suffix, renderers):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get("/api/x/?" + query, **headers))
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers, suffix)
    except Exception as exc:  # noqa: BLE001 - the error itself is what is compared
        return type(exc).__name__
    return type(renderer).__name__, media_type


@pytest.mark.parametrize("accept,query,suffix,renderers", list(itertools.product(
    ACCEPTS, QUERIES, [None, "json", "api"], range(len(RENDERER_LISTS)))))
def test_same_answer_as_drf(accept, query, suffix, renderers):
    renderers = RENDERER_LISTS[renderers]
    ours = outcome(ContentNegotiation(), accept, query, suffix, renderers)
    assert ours == outcome(DefaultContentNegotiation(), accept, query, suffix, renderers)


token = st.sampled_from(["*/*", "application/json", "text/html", "application/*", "text/*", "image/png",
                         "application/json; indent=2", "*/*;q=0.1", "text/html;q=0.9", "", "a/b/c"])


@settings(max_examples=300, deadline=None)
@given(st.lists(token, max_size=4).map(",".join), st.sampled_from(QUERIES), st.sampled_from(range(len(RENDERER_LISTS))))
def test_same_answer_as_drf_for_generated_headers(accept, query, renderers):
    renderers = RENDERER_LISTS[renderers]
    assert (outcome(ContentNegotiation(), accept, query, None, renderers)
            == outcome(DefaultContentNegotiation(), accept, query, None, renderers))


def test_the_api_uses_it():
    from rest_framework.views import APIView

    assert APIView.content_negotiation_class is ContentNegotiation
