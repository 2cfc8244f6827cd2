"""An admin imports a file and makes a snapshot in a real browser (Chromium, strict CSP):
job pages show progress and refresh themselves until the job is done."""
import json

import pytest
from playwright.sync_api import expect

from jobs.models import Job
from jobs.services import job_run


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_import_then_export_in_a_browser(live_server, page, client, admin_user, project, tmp_path):
    from django.conf import settings

    problems = []
    page.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation', "
                         "(e) => window.__csp.push(e.violatedDirective));")
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.set_default_timeout(15_000)
    client.force_login(admin_user)
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "url": live_server.url,
                               "value": client.cookies[settings.SESSION_COOKIE_NAME].value}])

    page.goto(f"{live_server.url}/exports/projects/{project.pk}/")
    expect(page.get_by_text("No snapshot yet")).to_be_visible()
    upload = tmp_path / "prefs.jsonl"
    upload.write_text("\n".join(json.dumps({"prompt": f"Question {i}?", "chosen": f"Good answer {i}",
                                            "rejected": f"Bad answer {i}"}) for i in range(8)) + "\n")
    page.get_by_label("File", exact=True).set_input_files(str(upload))
    page.get_by_label("Kind", exact=True).select_option("preferences")
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_role("heading", name="Import #")).to_be_visible()
    expect(page.locator("[data-status]")).to_have_text("Queued")
    job_run(job_id=Job.objects.get(kind="import").pk)  # the worker's part, here in the test
    expect(page.locator("[data-status]")).to_have_text("Succeeded")  # the page refreshed itself
    expect(page.get_by_text("rankings_created: 8")).to_be_visible()

    page.get_by_role("link", name="Back to the project's datasets").click()
    page.get_by_label("ranked_groups: one row per ranking").uncheck()
    page.get_by_label("Test ratio", exact=True).fill("0")
    page.get_by_role("button", name="Export").click()
    job_run(job_id=Job.objects.get(kind="export").pk)
    page.get_by_role("link", name="v1").click()
    expect(page.get_by_role("heading", name="Dataset card")).to_be_visible()
    expect(page.get_by_text("| pairs, all C(K,2) | 8 |")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="preference/train.jsonl").click()
    rows = [json.loads(line) for line in open(download.value.path())]
    assert len(rows) == 8 and rows[0]["chosen"].startswith("Good answer")
    assert page.evaluate("window.__csp") == [] and problems == []
