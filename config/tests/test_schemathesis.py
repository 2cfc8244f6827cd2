"""A bounded schemathesis run against the in-process WSGI app, as a global admin and as a labeler:
no request it generates from the OpenAPI schema may get a 5xx, and every response must match the
schema (status code, content type, body).

Bounded by FUZZ_EXAMPLES generated requests per operation and role (RANKLAB_FUZZ_EXAMPLES raises
it for a longer hunt); the requests run inside one test transaction, rolled back at the end.
"""
import os
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

FUZZ_EXAMPLES = int(os.environ.get("RANKLAB_FUZZ_EXAMPLES", "6"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def keep_connection():
    """The WSGI handler closes the database connection after each request; the test transaction
    lives on it (Django's test client disconnects the same signals)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_world(db, make_user, keep_connection):
    """A project with a labeler holding a lease and a finished ranking, an admin, a job and a model."""
    from annotate.services.assignments import task_next_for_labeler
    from annotate.services.projects import candidate_create, project_create, prompt_create, task_create
    from annotate.services.submissions import RankingInput, ranking_submit
    from jobs.services import job_create
    from labelers.services import membership_set
    from labelers.services.tokens import token_create
    from training.services.registry import model_register

    project = project_create(name="Fuzzed", k=2, task_kinds=["ranking", "demonstration", "dialogue"])
    admin, labeler = make_user("admin", role="admin"), make_user("labeler")
    membership_set(project=project, user=labeler, role="labeler")
    for i in range(4):
        prompt = prompt_create(project=project, conversation=f"Question {i}?")
        task_create(project=project, prompt=prompt, kind="ranking",
                    candidates=[candidate_create(prompt=prompt, text=f"Answer {i}{c}", source="t") for c in "ab"])
    first = task_next_for_labeler(user=labeler, project=project)
    ranking_submit(user=labeler, assignment_id=first.pk, data=RankingInput(tiers=[[c] for c in first.shown_order]))
    task_next_for_labeler(user=labeler, project=project)
    job_create(kind="noop", user=labeler, project=project, enqueue=False)
    model_register(name="policy", backend="openai", location="http://127.0.0.1:9/v1", endpoint_model="m")
    return {"admin": token_create(user=admin)[1], "labeler": token_create(user=labeler)[1]}


def _operations():
    from config.wsgi import application

    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("role", ["admin", "labeler"])
def test_generated_requests_get_no_server_error_and_match_the_schema(fuzz_world, role):
    headers = {"Authorization": f"Token {fuzz_world[role]}"}
    failures, statuses = [], Counter()
    for operation in _operations():
        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case):
            statuses[case.call_and_validate(headers=headers, checks=CHECKS).status_code] += 1

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # collect them all: one run shows every failing operation
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
    # The token worked: the fuzzer reached the views, not only the authentication.
    assert sum(n for code, n in statuses.items() if 200 <= code < 300) >= 10, statuses
