"""Job and round pages update in place while the work runs (htmx polls a fragment; no page
reload), and stop asking once it is over (HTTP 286)."""
import pytest
from playwright.sync_api import expect

from exports.services.imports import import_options_check, import_start
from jobs.services import job_create, job_run
from training.models import Round
from training.services.rounds import round_start
from training.tests.conftest import tiny_base  # noqa: F401 (fixture)

MARK = "window.__notReloaded = true"
STILL = "window.__notReloaded === true"


def _import_job(project, admin_user, tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"prompt": "one"}\n{"prompt": "two"}\n')
    options = import_options_check(kind="prompts", fmt="jsonl", filename=path.name)
    return import_start(project=project, path=path, options=options, user=admin_user)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_job_and_round_pages_change_without_a_reload(live_server, page, page_guard, login, admin_user, project,
                                                     tmp_path, tiny_base):  # noqa: F811
    login(admin_user)
    job = _import_job(project, admin_user, tmp_path)
    page.goto(f"{live_server.url}/exports/jobs/{job.pk}/")
    expect(page.locator("[data-status]")).to_have_text("Queued")
    assert page.locator("meta[http-equiv=refresh]").count() == 0
    page.evaluate(MARK)
    job_run(job_id=job.pk)
    expect(page.locator("[data-status]")).to_have_text("Succeeded")
    expect(page.locator("#job-live")).to_contain_text("imported: 2 prompts")
    assert page.evaluate(STILL)

    noop = job_create(kind="noop", enqueue=False)
    page.goto(f"{live_server.url}/jobs/{noop.pk}/")
    page.evaluate(MARK)
    job_run(job_id=noop.pk)
    expect(page.locator("#job-live .badge")).to_have_text("Succeeded")
    assert page.evaluate(STILL)

    rnd = round_start(project=project, base_policy=tiny_base, user=admin_user)
    page.goto(f"{live_server.url}/rounds/{rnd.pk}/")
    expect(page.locator("#round-status .badge").first).to_have_text("Running")
    page.evaluate(MARK)
    Round.objects.filter(pk=rnd.pk).update(status="failed", error="The worker stopped.")
    expect(page.locator("#round-status .badge").first).to_have_text("Failed")
    expect(page.locator("#round-status")).to_contain_text("The worker stopped.")
    assert page.evaluate(STILL)


@pytest.mark.django_db
def test_a_finished_jobs_fragment_stops_the_polling(client, admin_user, project, tmp_path):
    client.force_login(admin_user)
    job = _import_job(project, admin_user, tmp_path)
    url = f"/exports/jobs/{job.pk}/"
    running = client.get(url, HTTP_HX_REQUEST="true")
    assert running.status_code == 200 and b'hx-trigger="every 2s"' in running.content
    assert b"<html" not in running.content
    job_run(job_id=job.pk)
    done = client.get(url, HTTP_HX_REQUEST="true")
    assert done.status_code == 286 and b"hx-trigger" not in done.content
    assert client.get(f"/jobs/{job.pk}/", HTTP_HX_REQUEST="true").status_code == 286
