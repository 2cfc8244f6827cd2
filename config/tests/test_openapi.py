"""The OpenAPI schema: generated without a warning, saying what the API answers (nullable fields,
the download's content types, the error responses), and built once, not per request."""
import pytest
from django.core.cache import cache
from django.core.management import call_command
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def test_the_schema_generates_without_a_warning(tmp_path):
    # --fail-on-warn exits with an error on the first drf-spectacular warning or error.
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "schema.yml"))


def test_the_schema_says_what_the_responses_are(schema):
    model = schema["components"]["schemas"]["ModelOutput"]["properties"]
    assert model["parent_name"].get("nullable") is True
    download = schema["paths"]["/api/exports/{snapshot_id}/download/"]["get"]["responses"]["200"]["content"]
    assert set(download) == {"application/zip", "application/octet-stream"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert {"400", "403", "404"} <= set(operation["responses"]), (method, path)
    assert set(schema["components"]["securitySchemes"]) == {"tokenAuth", "cookieAuth"}


def test_the_schema_is_built_once_and_served_from_the_cache(monkeypatch):
    from drf_spectacular.generators import SchemaGenerator

    cache.clear()
    built = []
    original = SchemaGenerator.get_schema
    monkeypatch.setattr(SchemaGenerator, "get_schema", lambda self, *a, **k: built.append(1) or original(self, *a, **k))
    first = APIClient().get("/api/schema/")
    again = [APIClient().get("/api/schema/") for _ in range(5)]
    assert first.status_code == 200 and all(r.status_code == 200 and r.content == first.content for r in again)
    assert len(built) == 1
    cache.clear()
