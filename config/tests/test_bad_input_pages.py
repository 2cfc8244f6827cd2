"""Bad input in every HTML form and query string: a crawler signs in as an admin (and as a
labeler, for the workspace), follows the site's own links, and sends every field of every form
it finds, and every query parameter of every link, each of the values below in turn (the other
fields keep what the page put in them). Each answer is a 4xx or a form error, never a 500."""
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

pytestmark = pytest.mark.django_db

BAD = {"letters": "abc", "superscript digit": "²", "negative": "-3", "20 digits": "9" * 20, "exponent": "1e5",
       "NUL": "a\x00b", "10k characters": "x" * 10_000}
SKIP = ("/admin/", "/api/", "/static/", "/accounts/logout/", "/download/", "/favicon.ico")
MAX_PAGES = 150


class _Page(HTMLParser):
    """The forms (method, action, htmx, fields) and links of one HTML page."""

    def __init__(self):
        super().__init__()
        self.forms, self.links, self._form, self._textarea, self._select = [], [], None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form":
            # How the browser sends it: htmx's request, and the form's own submission where it has
            # one (the generate form posts itself and asks for its prompt count with hx-get).
            ways = [(m, a[f"hx-{m}"], True) for m in ("post", "get") if f"hx-{m}" in a]
            if not ways or "method" in a or "action" in a:
                ways.append(((a.get("method") or "get").lower(), a.get("action") or "", False))
            self._form = {"ways": ways, "fields": []}
            self.forms.append(self._form)
        elif self._form is None or not a.get("name"):
            return
        elif tag == "input":
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                if not any(n == a["name"] for n, _ in self._form["fields"]):
                    self._form["fields"].append((a["name"], a.get("value", "on")))
            elif kind not in ("file", "image", "reset", "button"):
                self._form["fields"].append((a["name"], a.get("value", "")))
        elif tag == "button" and (a.get("type") or "submit") == "submit":
            self._form["fields"].append((a["name"], a.get("value", "")))
        elif tag == "textarea":
            self._textarea = [a["name"], ""]
            self._form["fields"].append(self._textarea)
        elif tag == "select":
            self._select = [a["name"], None]
            self._form["fields"].append(self._select)
        if tag == "option" and self._select is not None and (self._select[1] is None or "selected" in a):
            self._select[1] = a.get("value", "")

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    for form in page.forms:
        form["fields"] = [(n, v if v is not None else "") for n, v in form["fields"]]
    return page


def _shape(path: str) -> str:
    """/projects/12/members/3/ → /projects/N/members/N/: pages of one kind are crawled once."""
    return "/".join("N" if part.isdigit() else part for part in path.split("/"))


class _Log:
    """What a sweep sent and what answered a 500."""

    def __init__(self):
        self.failures, self.covered, self.requests = [], set(), 0

    def send(self, client, method, url, data, htmx, what):
        self.requests += 1
        headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        response = client.post(url, data, **headers) if method == "post" else client.get(url, data, **headers)
        if response.status_code >= 500:
            self.failures.append(f"{method.upper()} {url} {what}: {response.status_code}")
        return response


def _sweep_targets(client, log: _Log, targets, seen: set) -> None:
    """Each (method, path, fields, htmx) once (`seen`): every field in turn set to every BAD value."""
    client.raise_request_exception = False
    for method, path, fields, htmx in targets:
        target = (method, _shape(path), tuple(sorted({n for n, _ in fields})))
        if path.startswith(SKIP) or target in seen:
            continue
        seen.add(target)
        log.covered.add(f"{method.upper()} {_shape(path)}")
        for name in sorted({n for n, _ in fields if n != "csrfmiddlewaretoken"}):
            for label, bad in BAD.items():
                data = {}
                for n, v in fields:
                    data.setdefault(n, []).append(v)
                data[name] = [bad]
                log.send(client, method, path, data, htmx, f"{name}={label}")


def _sweep(client, log: _Log, start: list[str], seen: set) -> None:
    """Crawl the site's own links from `start`; sweep every form and every query string found."""
    client.raise_request_exception = False
    queue, seen_pages = list(start), set()
    while queue and len(seen_pages) < MAX_PAGES:
        url = queue.pop(0)
        path, query = urlsplit(url).path, urlsplit(url).query
        key = (_shape(path), tuple(sorted(k for k, _ in parse_qsl(query))))
        if key in seen_pages:
            continue
        seen_pages.add(key)
        response = log.send(client, "get", url, {}, False, "(as linked)")
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        page = _parse(response.content.decode())
        for href in page.links:
            parts = urlsplit(href)
            if not parts.netloc and parts.path.startswith("/") and not parts.path.startswith(SKIP):
                queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
        targets = [(method, urlsplit(action).path or path, form["fields"], htmx)
                   for form in page.forms for method, action, htmx in form["ways"]]
        if query:
            targets.append(("get", path, parse_qsl(query, keep_blank_values=True), False))
        _sweep_targets(client, log, targets, seen)


@pytest.fixture
def site(project, admin_user, labeler, make_user, make_ranking_task, settings, tmp_path):
    """A project with a task of every kind, a submission to review, a job, a snapshot, a model."""
    from annotate.services.assignments import task_next_for_labeler
    from annotate.services.projects import candidate_create, prompt_create, task_create
    from annotate.services.submissions import RankingInput, ranking_submit
    from exports.services.snapshots import export_start
    from jobs.services import job_create, job_run
    from labelers.services import membership_set
    from training.services.registry import model_register

    settings.EXPORTS_DIR = tmp_path / "exports"
    membership_set(project=project, user=admin_user, role="admin")
    project.submissions_required, project.review_sample_rate = 2, 1.0
    project.save()
    first = make_ranking_task(k=3)
    make_ranking_task(k=3)
    for kind in ("demonstration", "dialogue"):
        prompt = prompt_create(project=project, conversation=f"A {kind} prompt?")
        task_create(project=project, prompt=prompt, kind=kind,
                    candidates=[candidate_create(prompt=prompt, text="A suggestion.", source="test")])
    other = make_user("labeler2")
    membership_set(project=project, user=other)
    assignment = task_next_for_labeler(user=other, project=project)
    ranking_submit(user=other, assignment_id=assignment.pk,
                   data=RankingInput(tiers=[[c] for c in assignment.shown_order]))
    job_create(kind="noop", user=admin_user, project=project, enqueue=False)
    assert job_run(job_id=export_start(project=project, user=admin_user, enqueue=False).pk).status == "succeeded"
    model_register(name="endpoint", backend="openai", location="http://127.0.0.1:9/v1", endpoint_model="m")
    return {"project": project, "first": first}


def test_no_form_field_or_query_parameter_of_any_page_answers_a_500(client, admin_user, labeler, site):
    from annotate.services.assignments import assignment_skip, task_next_for_labeler
    from exports.models import ExportSnapshot

    project = site["project"]
    log, seen = _Log(), set()
    # The labeler first (the admin's sweep pauses and removes members); after each round the
    # labeler skips, so the next task's kind and form are swept too.
    client.force_login(labeler)
    for _ in range(4):
        _sweep(client, log, [f"/projects/{project.pk}/work/"], seen)
        assignment = task_next_for_labeler(user=labeler, project=project)
        if assignment is not None:
            assignment_skip(user=labeler, assignment_id=assignment.pk, reason="to see the next kind")
    # Buttons that post outside their form (the markdown previews), and a snapshot's file link.
    _sweep_targets(client, log, [("post", f"/projects/{project.pk}/preview/", [("text", "")], True)], seen)
    client.force_login(admin_user)
    _sweep(client, log, ["/", "/jobs/?status=queued", "/rounds/", "/labelers/tokens/",
                         f"/labelers/projects/{project.pk}/review/?mode=flagged", "/training/generate/",
                         "/training/playground/"], seen)
    snapshot = ExportSnapshot.objects.get()
    _sweep_targets(client, log, [("post", "/projects/guidelines-preview/", [("guidelines", "")], True),
                                 ("get", f"/exports/{snapshot.pk}/download/", [("file", "manifest.json")], False)],
                   seen)
    print(f"{log.requests} requests; covered: {sorted(log.covered)}")
    assert log.failures == [], "\n".join(log.failures)
    # The crawl reached the forms that matter (a broken link would silently shrink it).
    for form in ("POST /projects/new/", "POST /projects/N/settings/", "POST /labelers/projects/N/members/add/",
                 "POST /labelers/projects/N/members/create/", "POST /exports/projects/N/export/",
                 "POST /exports/projects/N/import/", "POST /rounds/projects/N/start/", "POST /training/generate/",
                 "GET /jobs/", "POST /projects/N/work/N/ranking/", "POST /projects/N/work/N/skip/",
                 "POST /projects/N/work/N/demonstration/", "POST /labelers/projects/N/review/ranking/N/",
                 "POST /labelers/projects/N/review/ranking/N/gold/", "GET /exports/N/download/"):
        assert form in log.covered, (form, sorted(log.covered))
    assert log.requests > 500


@pytest.mark.parametrize("value", ["99999999999999999999", "9223372036854775808", "abc", "²", "-3", "1e5"])
def test_lists_of_ids_beyond_a_bigint_or_not_numbers_are_form_errors(admin_user, value):
    """Django looks a ModelMultipleChoiceField's ids up with pk__in, which has no range check."""
    from django.http import QueryDict

    from annotate.forms import ProjectForm
    from training.views import GenerateForm, SamplingForm

    def data(field):
        return QueryDict(urlencode({"name": "P", field: value}))

    for form, field in ((ProjectForm(data("sampling_models")), "sampling_models"),
                        (SamplingForm(data("models")), "models"), (GenerateForm(data("models")), "models")):
        assert not form.is_valid()
        assert form.errors[field] == [f"“{value}” is not a valid value."], form.errors
