"""The admin's project pages (create, settings, guidelines preview) and the home page's cards,
through Django's test client."""
import re

import pytest

from annotate.models import DEFAULT_FLAGS, Project
from annotate.services.assignments import task_next_for_labeler
from annotate.services.submissions import RankingInput, ranking_submit

pytestmark = pytest.mark.django_db


def _valid(**over) -> dict:
    data = {
        "name": "Support answers", "description": "Rank support replies", "guidelines": "# Be kind",
        "task_kinds": ["ranking", "demonstration"], "k": "3", "submissions_required": "2", "lease_seconds": "20",
        "rating_scale_label": "Helpfulness", "rating_scale_min": "1", "rating_scale_max": "5",
        "flags_label": ["Rude tone", "Wrong facts", ""], "flags_key": ["", "wrong_facts", ""],
        "gold_rate": "5", "qualification_pass_mark": "75", "quality_window": "10", "quality_min_samples": "4",
        "pause_below_gold_accuracy": "50", "pause_below_agreement": "0", "review_sample_rate": "20",
        "review_flag_below": "40",
    }
    data.update(over)
    return data


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_new_project_form_has_sensible_defaults_and_no_json(admin_client):
    html = admin_client.get("/projects/new/").content.decode()
    assert re.search(r'<input[^>]*name="task_kinds"[^>]*value="ranking"[^>]*checked', html)
    assert re.search(r'name="k" value="4"', html) and re.search(r'name="submissions_required" value="1"', html)
    assert re.search(r'name="lease_seconds" value="30"', html)  # minutes
    assert 'name="rating_scale_label" value="Overall quality"' in html
    assert re.search(r'name="rating_scale_min" value="1"', html) and re.search(r'name="rating_scale_max" value="7"', html)
    for flag in DEFAULT_FLAGS:
        assert f'value="{flag["key"]}"' in html
    assert re.search(r'name="gold_rate" value="10(\.0)?"', html)
    # Only the guidelines are a textarea: nothing asks an admin for JSON.
    assert re.findall(r'<textarea[^>]*name="([^"]+)"', html) == ["guidelines"]
    assert "{" not in re.sub(r"<script.*?</script>|<meta[^>]*>|hx-headers='[^']*'", "", html, flags=re.S)


def test_admin_creates_a_project_with_every_setting(admin_client, admin_user):
    response = admin_client.post("/projects/new/", _valid())
    project = Project.objects.get(name="Support answers")
    assert response.status_code == 302 and response["Location"] == f"/labelers/projects/{project.pk}/members/"
    assert project.task_kinds == ["ranking", "demonstration"] and project.k == 3
    assert project.submissions_required == 2 and project.lease_seconds == 20 * 60
    assert project.rating_scale == {"name": "helpfulness", "label": "Helpfulness", "min": 1, "max": 5}
    assert project.flags == [{"key": "rude_tone", "label": "Rude tone"}, {"key": "wrong_facts", "label": "Wrong facts"}]
    assert project.gold_rate == pytest.approx(0.05) and project.qualification_pass_mark == pytest.approx(0.75)
    assert project.review_sample_rate == pytest.approx(0.2) and project.review_flag_below == pytest.approx(0.4)
    assert project.quality_window == 10 and project.quality_min_samples == 4


def test_every_validation_error_is_shown_at_once(admin_client):
    response = admin_client.post("/projects/new/", _valid(
        name="", task_kinds=[], k="12", rating_scale_min="5", rating_scale_max="3",
        flags_label=["Rude", "Also rude"], flags_key=["rude", "rude"], gold_rate="150", lease_seconds="0",
        quality_min_samples="40"))
    assert response.status_code == 400
    html = response.content.decode()
    for message in ["This field is required", "Choose at least one kind of task", "2 to 9 candidates",
                    "lowest rating must be below the highest", "rude appears more than once",
                    "between 0 % and 100 %", "at least a minute", "more results than the window holds"]:
        assert message in html, message
    assert "Please fix 8 things" in html
    assert not Project.objects.filter(name="").exists()


def test_the_rules_behind_the_form_are_the_services_rules():
    from django.core.exceptions import ValidationError

    from annotate.services.projects import project_create

    with pytest.raises(ValidationError) as caught:
        project_create(name="x", task_kinds=["ranking"], k=12, gold_rate=2.0, flags=[{"key": "A b", "label": "x"}])
    assert set(caught.value.message_dict) == {"k", "gold_rate", "flags"}


def test_settings_page_changes_a_project(admin_client, project):
    url = f"/projects/{project.pk}/settings/"
    html = admin_client.get(url).content.decode()
    assert f'value="{project.name}"' in html and "Save settings" in html
    response = admin_client.post(url, _valid(name=project.name, k="5", task_kinds=["ranking"]))
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.k == 5 and project.task_kinds == ["ranking"] and project.submissions_required == 2


def test_a_taken_name_is_refused_in_the_form(admin_client, project):
    response = admin_client.post("/projects/new/", _valid(name=project.name))
    assert response.status_code == 400 and "already exists" in response.content.decode()


def test_project_pages_are_for_admins_only(client, labeler, project):
    client.force_login(labeler)
    assert client.get("/projects/new/").status_code == 403
    assert client.get(f"/projects/{project.pk}/settings/").status_code == 403
    assert client.post("/projects/new/", _valid()).status_code == 403
    assert not Project.objects.filter(name="Support answers").exists()


def test_guidelines_preview_is_sanitised_markdown(admin_client):
    html = admin_client.post("/projects/guidelines-preview/",
                             {"guidelines": "# Title\n\n**bold** <script>alert(1)</script>"}).content.decode()
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html and "<script" not in html


def test_home_cards_show_tasks_progress_and_labelers_active_today(admin_client, project, labeler, make_ranking_task):
    tasks = [make_ranking_task(k=2) for _ in range(4)]
    assignment = task_next_for_labeler(user=labeler, project=project)
    a, b = assignment.shown_order
    ranking_submit(user=labeler, assignment_id=assignment.pk, data=RankingInput(tiers=[[a], [b]]))
    assert sum(t.pk == assignment.task_id for t in tasks) == 1
    html = admin_client.get("/").content.decode()
    card = html[html.index(project.name):]
    assert re.search(r'data-testid="open-tasks">3<', card)
    assert re.search(r'data-testid="complete-tasks">1<', card)
    assert re.search(r'data-testid="active-today">1<', card)
    assert re.search(r'data-testid="progress">25 % complete', card)
    assert f'href="/projects/{project.pk}/settings/"' in card and f'href="/labelers/projects/{project.pk}/members/"' in card
    assert 'href="/projects/new/"' in html


@pytest.mark.parametrize("minutes", ["10081", "100000000000000", "100000000000000000000000"])
def test_a_lease_longer_than_a_week_is_refused_with_a_sentence(admin_client, minutes):
    response = admin_client.post("/projects/new/", _valid(lease_seconds=minutes))
    assert response.status_code == 400
    assert "A lease lasts at most a week (10080 minutes)." in response.content.decode()
    assert not Project.objects.exists()


def test_a_week_long_lease_is_kept_and_the_database_refuses_more(admin_client):
    from django.db import IntegrityError, transaction

    assert admin_client.post("/projects/new/", _valid(lease_seconds="10080")).status_code == 302
    project = Project.objects.get()
    assert project.lease_seconds == 7 * 24 * 3600
    with pytest.raises(IntegrityError), transaction.atomic():
        Project.objects.filter(pk=project.pk).update(lease_seconds=7 * 24 * 3600 + 1)


def test_a_project_may_offer_no_flags(admin_client):
    response = admin_client.post("/projects/new/", _valid(flags_label=[""], flags_key=[""]))
    assert response.status_code == 302, response.content.decode()
    assert Project.objects.get().flags == []
