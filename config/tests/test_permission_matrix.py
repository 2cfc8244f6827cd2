"""Who may call what: every API operation (from the URL conf and the OpenAPI schema) against every
role, with the expected status in one table. A new endpoint without a row fails
test_every_api_operation_has_a_row_in_the_table.

Each call sends an empty body: a role that may act gets past the permission checks and is told
what is missing (400), or acts (200/201/202/204); a role that may not gets 403 (it may know the
object exists) or 404 (it may not). Roles: anonymous; an outsider (no membership); the labeler who
holds the objects' assignment and submission; a labeler of another project; a reviewer and an
admin of the project; a global admin. Each role runs against the same rows, rolled back after it.
"""
import re

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

ROLES = ("anon", "outsider", "labeler", "other_labeler", "reviewer", "project_admin", "admin")


def row(anon, outsider, labeler, other_labeler, reviewer, project_admin, admin):
    return dict(zip(ROLES, (anon, outsider, labeler, other_labeler, reviewer, project_admin, admin), strict=True))


def members(ok, admin=None):
    """Any member of the project: `ok`; non-members: 404."""
    return row(403, 404, ok, 404, ok, ok, ok if admin is None else admin)


def own(ok):
    """The labeler's own assignment, submission, job or token: everyone else is told "not found"."""
    return row(403, 404, ok, 404, 404, 404, 404)


def staff(ok):
    """Reviewers and admins of the project; its labelers may know it exists (403)."""
    return row(403, 404, 403, 404, ok, ok, ok)


def project_admins(ok):
    return row(403, 404, 403, 404, 403, ok, ok)


def global_admins(ok):
    """Registry, generation, rounds, exports: global admins only."""
    return row(403, 403, 403, 403, 403, 403, ok)


def anyone(ok):
    return row(403, ok, ok, ok, ok, ok, ok)


EXPECTED = {
    # the workspace
    # (a global admin labels only where a membership says so)
    ("POST", "/api/projects/{project_id}/assignments/next/"): members(200, admin=404),
    ("GET", "/api/projects/{project_id}/progress/"): members(200, admin=404),
    ("GET", "/api/assignments/{assignment_id}/"): own(200),
    ("POST", "/api/assignments/{assignment_id}/ranking/"): own(400),
    ("POST", "/api/assignments/{assignment_id}/ranking-and-next/"): own(400),
    ("POST", "/api/assignments/{assignment_id}/demonstration/"): own(400),
    ("POST", "/api/assignments/{assignment_id}/skip/"): own(400),
    ("POST", "/api/assignments/{assignment_id}/renew/"): own(200),
    ("POST", "/api/assignments/{assignment_id}/suggestions/"): own(400),
    # label quality
    ("GET", "/api/projects/{project_id}/labeler-stats/"): members(200),
    ("GET", "/api/projects/{project_id}/calibration/"): members(200),
    ("GET", "/api/projects/{project_id}/quality/"): staff(200),
    ("GET", "/api/projects/{project_id}/review-queue/"): staff(200),
    ("POST", "/api/submissions/{kind}/{submission_id}/review/"): staff(400),
    ("GET", "/api/tasks/{task_id}/consensus/"): staff(200),
    ("POST", "/api/tasks/{task_id}/gold/"): project_admins(400),
    ("GET", "/api/projects/{project_id}/alerts/"): project_admins(200),
    ("POST", "/api/alerts/{alert_id}/resolve/"): project_admins(200),
    ("POST", "/api/projects/{project_id}/labelers/{user_id}/resume/"): project_admins(200),
    ("POST", "/api/projects/{project_id}/labelers/{user_id}/qualification/"): project_admins(400),
    # jobs: admins see every job, others their own
    ("GET", "/api/jobs/"): anyone(200),
    ("GET", "/api/jobs/{job_id}/"): {**own(200), "admin": 200},
    ("POST", "/api/jobs/{job_id}/cancel/"): {**own(200), "admin": 200},
    ("POST", "/api/jobs/{job_id}/retry/"): {**own(200), "admin": 200},  # queued, never sent: sent again
    ("POST", "/api/suggestions/"): anyone(400),
    # models, generation, rounds, training, exports: global admins
    ("GET", "/api/models/"): global_admins(200),
    ("POST", "/api/models/"): global_admins(400),
    ("GET", "/api/models/{model_id}/"): global_admins(200),
    ("GET", "/api/models/{model_id}/lineage/"): global_admins(200),
    ("GET", "/api/projects/{project_id}/sampling-models/"): global_admins(200),
    ("PUT", "/api/projects/{project_id}/sampling-models/"): global_admins(400),
    ("POST", "/api/generations/"): global_admins(400),
    ("GET", "/api/rounds/"): global_admins(200),
    ("POST", "/api/rounds/"): global_admins(400),
    ("GET", "/api/rounds/{round_id}/"): global_admins(200),
    ("POST", "/api/rounds/{round_id}/cancel/"): global_admins(200),
    ("POST", "/api/rounds/{round_id}/retry/"): global_admins(400),
    ("POST", "/api/rounds/{round_id}/continue/"): global_admins(400),
    ("POST", "/api/trainings/"): global_admins(400),
    ("POST", "/api/evaluations/"): global_admins(400),
    ("GET", "/api/projects/{project_id}/exports/"): global_admins(200),
    ("POST", "/api/projects/{project_id}/exports/"): global_admins(202),
    ("POST", "/api/projects/{project_id}/imports/"): global_admins(400),
    ("GET", "/api/exports/{snapshot_id}/"): global_admins(200),
    ("GET", "/api/exports/{snapshot_id}/download/"): global_admins(200),
    # tokens
    ("POST", "/api/auth/token/"): row(400, 400, 400, 400, 400, 400, 400),
    ("GET", "/api/auth/tokens/"): anyone(200),
    ("POST", "/api/auth/tokens/"): anyone(201),
    ("DELETE", "/api/auth/tokens/{key}/"): own(204),
}
# Served outside the schema: the schema itself and its viewer.
NOT_IN_SCHEMA = {"/api/schema/", "/api/docs/"}


def _api_routes(patterns=None, prefix="") -> set[str]:
    """Every route of the URL conf under /api/, with converters written as OpenAPI {name}."""
    routes = set()
    for p in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            routes |= _api_routes(p.url_patterns, route)
        elif isinstance(p, URLPattern) and route.startswith("api/"):
            routes.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))
    return routes


@pytest.fixture(scope="module")
def schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def test_every_api_operation_has_a_row_in_the_table(schema):
    operations = {(method.upper(), path) for path, ops in schema["paths"].items() for method in ops}
    assert _api_routes() - NOT_IN_SCHEMA == set(schema["paths"]), "a route of the URL conf is missing from the schema"
    missing, stale = operations - set(EXPECTED), set(EXPECTED) - operations
    assert not missing, f"add the expected status of each role for {sorted(missing)}"
    assert not stale, f"these operations are gone: {sorted(stale)}"


@pytest.fixture
def world(db, make_user, settings, tmp_path):
    """Two projects and one user per role; the labeler holds an active assignment, a submitted
    ranking, a job, an alert and a token in the first."""
    from knox.models import AuthToken

    from annotate.services.assignments import task_next_for_labeler
    from annotate.services.projects import candidate_create, project_create, prompt_create, task_create
    from annotate.services.submissions import RankingInput, ranking_submit
    from exports.tests.conftest import run_export
    from jobs.services import job_create
    from labelers.models import LabelerAlert
    from labelers.services import membership_set
    from training.models import ModelVersion, Round
    from training.services.registry import model_register

    settings.EXPORTS_DIR = tmp_path / "exports"
    project, other = project_create(name="Ours", k=2), project_create(name="Theirs", k=2)
    users = {"admin": make_user("admin", role="admin"), "outsider": make_user("outsider")}
    for name, proj, role in [("labeler", project, "labeler"), ("other_labeler", other, "labeler"),
                             ("reviewer", project, "reviewer"), ("project_admin", project, "admin")]:
        users[name] = make_user(name, role="reviewer" if role == "reviewer" else "labeler")
        membership_set(project=proj, user=users[name], role=role)
    labeler = users["labeler"]
    for i in range(3):
        prompt = prompt_create(project=project, conversation=f"Question {i}?")
        task_create(project=project, prompt=prompt, kind="ranking",
                    candidates=[candidate_create(prompt=prompt, text=f"Answer {i}{c}", source="t") for c in "ab"])
    first = task_next_for_labeler(user=labeler, project=project)
    ranking = ranking_submit(user=labeler, assignment_id=first.pk,
                             data=RankingInput(tiers=[[c] for c in first.shown_order]))
    assignment = task_next_for_labeler(user=labeler, project=project)
    alert = LabelerAlert.objects.create(project=project, labeler=labeler, kind="paused_gold", message="paused")
    job = job_create(kind="noop", user=labeler, project=project, enqueue=False)
    model = model_register(name="policy", backend="openai", location="http://127.0.0.1:9/v1", endpoint_model="m")
    snapshot, _ = run_export(project)
    rnd = Round.objects.create(project=project, number=1, base_policy=model, created_by=users["admin"])
    token = AuthToken.objects.create(user=labeler)[0]
    ids = {"project_id": project.pk, "assignment_id": assignment.pk, "kind": "ranking", "submission_id": ranking.pk,
           "task_id": ranking.task_id, "alert_id": alert.pk, "user_id": labeler.pk, "job_id": job.pk,
           "model_id": ModelVersion.objects.get(name="policy").pk, "snapshot_id": snapshot.pk, "round_id": rnd.pk,
           "key": token.token_key}
    return users, ids


MULTIPART = {"/api/projects/{project_id}/imports/"}


def _call(client, method, path, url):
    if method == "GET":
        return client.get(url)
    return getattr(client, method.lower())(url, {}, format="multipart" if path in MULTIPART else "json")


@pytest.mark.parametrize("method, path", sorted(EXPECTED, key=lambda op: (op[1], op[0])))
def test_each_role_gets_the_expected_status(world, method, path):
    users, ids = world
    url = path.format(**ids)
    got = {}
    for role in ROLES:
        client = APIClient()
        if role != "anon":
            client.force_authenticate(users[role])
        with transaction.atomic():
            response = _call(client, method, path, url)
            got[role] = response.status_code
            transaction.set_rollback(True)
    assert got == EXPECTED[(method, path)], f"{method} {url}"
