"""Server time of the labeler's ranking page (K=4) and the JS + CSS bytes it loads.

    .venv/bin/python bench/workspace_page.py [--runs 300] [--submits 100]

Builds a fresh SQLite database in a temporary data dir (nothing shared with other runs): a
project, one labeler, ranking tasks with a ~200-character prompt and four ~400-character
markdown responses (the shape of the Label Studio peer benchmark in ../shared/bench). Times,
in-process through Django's test client (the whole middleware stack and template rendering,
no network):

- GET  /projects/<id>/work/       the ranking page, reloaded with a live lease (median of --runs),
                                  and again with the markdown cache cleared before each GET;
- POST …/ranking/ with htmx       "submit and next": store the ranking, lease and render the next task;
- GET  /accounts/login/           baseline measured in the same run: a trivial template page.

Asset bytes: every <script src> and <link rel=stylesheet> of the page, plus the ES modules
they import, read through the staticfiles finders (raw and gzip -9). The last line is
`workspace_page server_ms=… asset_kb=…` (target: < 30 ms on SQLite, < 100 kB).
"""
from __future__ import annotations

import argparse
import gzip
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROMPT = ("I am planning a three-day trip to Lisbon in early spring with my parents, who do not like long "
          "walks. What should we see, and how should we split the days so that nobody gets tired?")
ANSWER = ("**Day {n}.** Start with the *{place}* in the morning, when it is quiet, then take tram 28 or a taxi "
          "up to a viewpoint for lunch.\n\n- Book tickets online to skip queues\n- Sit down every hour: cafés "
          "are everywhere\n- Keep the afternoon light: a short river walk and an early dinner\n\n"
          "`Tip:` the Lisboa Card covers most transport and museums.")
PLACES = ["Belém Tower", "Jerónimos Monastery", "Gulbenkian Museum", "Oceanário"]


def _setup(data_dir: str):
    os.environ["RANKLAB_DATA_DIR"] = data_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ.pop("DATABASE_URL", None)  # the target is stated for SQLite
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _data(n_tasks: int):
    from annotate.services.projects import candidate_create, project_create, prompt_create, task_create
    from labelers.services import membership_set, user_create

    project = project_create(name="Bench project", task_kinds=["ranking"], k=4,
                             guidelines="# Guidelines\nRank by **helpfulness**, then harmlessness.")
    user = user_create(username="bench-labeler", password="pw-12345678")
    membership_set(project=project, user=user)
    for i in range(n_tasks):
        prompt = prompt_create(project=project, conversation=f"{PROMPT} (trip {i})")
        cands = [candidate_create(prompt=prompt, text=ANSWER.format(n=j + 1, place=PLACES[j]), source="bench")
                 for j in range(4)]
        task_create(project=project, prompt=prompt, kind="ranking", candidates=cands)
    return project, user


def _time(fn, runs: int) -> list[float]:
    for _ in range(min(20, runs)):
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _assets(html: str) -> dict[str, int]:
    from django.conf import settings
    from django.contrib.staticfiles import finders

    urls = re.findall(r'<script[^>]+src="([^"]+)"', html) + re.findall(
        r'<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"', html)
    seen: dict[str, bytes] = {}
    todo = [u.removeprefix(settings.STATIC_URL) for u in urls]
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        path = finders.find(rel)
        if path is None:
            raise SystemExit(f"asset {rel} not found by the staticfiles finders")
        seen[rel] = Path(path).read_bytes()
        if rel.endswith(".js"):  # follow the ES module graph
            base = rel.rsplit("/", 1)[0]
            for imp in re.findall(rb'import[^;]*?from\s+"(\./[^"]+)"', seen[rel]):
                todo.append(f"{base}/{imp.decode()[2:]}")
    return {rel: (len(body), len(gzip.compress(body, 9))) for rel, body in sorted(seen.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--submits", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rl-bench-ws-") as data_dir:
        _setup(data_dir)
        from django.db import connection
        from django.test import Client

        from annotate.models import Assignment
        from annotate.services import text

        project, user = _data(args.submits + 25)
        client = Client(HTTP_HOST="localhost")
        client.force_login(user)
        url = f"/projects/{project.pk}/work/"
        first = client.get(url)
        assert first.status_code == 200 and b"Rank the 4 responses" in first.content, first.status_code
        queries = []
        with connection.execute_wrapper(lambda execute, sql, *a: queries.append(sql) or execute(sql, *a)):
            client.get(url)
        page_ms = _time(lambda: client.get(url), args.runs)

        def cold():  # as if no one had seen these texts yet: markdown rendered again
            text._render.cache_clear()
            client.get(url)

        cold_ms = _time(cold, args.runs)
        anon = Client(HTTP_HOST="localhost")
        login_ms = _time(lambda: anon.get("/accounts/login/"), args.runs)

        submit_ms = []
        for _ in range(args.submits):
            a = Assignment.objects.filter(labeler=user, state="active").get()
            t0 = time.perf_counter()
            r = client.post(f"/projects/{project.pk}/work/{a.pk}/ranking/",
                            {"tiers": "[[1],[2,3],[4]]", "rating_1": "6", "time_on_task_ms": "1000"},
                            HTTP_HX_REQUEST="true")
            submit_ms.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200 and b"Rank the 4 responses" in r.content, r.content[:300]

        assets = _assets(first.content.decode())
        raw = sum(v[0] for v in assets.values())
        gz = sum(v[1] for v in assets.values())
        med = statistics.median(page_ms)
        base = statistics.median(login_ms)
        p95 = statistics.quantiles(page_ms, n=20)[18]
        print(f"ranking page K=4: median {med:.2f} ms, p95 {p95:.2f} ms over {args.runs} GETs; "
              f"{len(queries)} SQL queries; HTML {len(first.content) / 1024:.1f} kB")
        print(f"ranking page with the markdown cache cleared before each GET: median "
              f"{statistics.median(cold_ms):.2f} ms")
        print(f"baseline login page: median {base:.2f} ms -> ranking page / baseline = {med / base:.2f}x")
        print(f"submit and next (htmx POST): median {statistics.median(submit_ms):.2f} ms, "
              f"p95 {statistics.quantiles(submit_ms, n=20)[18]:.2f} ms over {args.submits} submissions")
        for rel, (size, zipped) in assets.items():
            print(f"  asset {rel}: {size / 1024:.1f} kB ({zipped / 1024:.1f} kB gzip)")
        print(f"assets: {len(assets)} files, {raw / 1024:.1f} kB raw, {gz / 1024:.1f} kB gzip")
        print(f"workspace_page server_ms={med:.2f} asset_kb={raw / 1024:.1f}")


if __name__ == "__main__":
    main()
