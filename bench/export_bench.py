"""Export benchmark: all-pairs TRL preference JSONL from >= 1,000,000 comparisons on PostgreSQL,
timed against PostgreSQL's own `COPY (SELECT …) TO STDOUT` of the same pair rows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rl_ex RANKLAB_DATA_DIR=/tmp/rl-ex \\
        .venv/bin/python bench/export_bench.py [--rankings 170000] [--reseed]

Seeds (once; reused by later runs unless --reseed) a project of `--rankings` completed K=4
rankings, strict orders, so 6 pairs each, with bulk COPY. Then, in a fresh process (so that
its peak RSS is the export's alone), runs the real export job (`export` job kind, format
`preference`, JSONL, split by prompt), and in this process the baseline: COPY of the same
(prompt, chosen, rejected) rows, expanded from the tiers by SQL, into a file.
Last line: export_bench rows=… seconds=… copy_seconds=… ratio=… peak_rss_mb=…
Target: ratio <= 2, peak RSS < 200 MB.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
PROJECT_NAME = "export-bench"
FILLER = ("The quick brown fox jumps over the lazy dog while the committee reviews the quarterly numbers "
          "and a careful assistant explains each step plainly. ")


def setup():
    import django

    django.setup()
    from django.conf import settings

    if not settings.IS_POSTGRES:
        sys.exit("export_bench needs DATABASE_URL=postgres://… (your own database)")


def _copy(cursor, model, rows):
    """COPY rows (dicts by attname) into the model's table; fields left out get their default."""
    from django.db import connection
    from django.utils import timezone

    fields = [f for f in model._meta.concrete_fields]
    now = timezone.now()
    cols = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with cursor.copy(f"COPY {model._meta.db_table} ({cols}) FROM STDIN") as copy:
        for row in rows:
            values = []
            for f in fields:
                if f.attname in row:
                    value = row[f.attname]
                elif getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False):
                    value = now
                else:
                    value = f.get_default()
                values.append(f.get_db_prep_save(value, connection))
            copy.write_row(values)
    cursor.execute(f"SELECT setval(pg_get_serial_sequence('{model._meta.db_table}', 'id'), "
                   f"(SELECT max(id) FROM {model._meta.db_table}))")


def seed(n: int, reseed: bool) -> int:
    from django.db import connection, transaction

    from annotate.models import (
        Candidate,
        Project,
        Prompt,
        Ranking,
        Task,
        TaskCandidate,
        conversation_hash,
        split_bucket,
    )
    from annotate.services.projects import project_create

    project = Project.objects.filter(name=PROJECT_NAME).first()
    if project and not reseed and Ranking.objects.filter(task__project=project).count() == n:
        print(f"reusing {n:,} seeded rankings in project {project.pk}", flush=True)
        return project.pk
    if project:
        print("deleting the previous bench project…", flush=True)
        with connection.cursor() as c:
            for table, where in [("annotate_ranking", "task_id IN (SELECT id FROM annotate_task WHERE project_id=%s)"),
                                 ("annotate_taskcandidate", "task_id IN (SELECT id FROM annotate_task WHERE project_id=%s)"),
                                 ("annotate_task", "project_id=%s"),
                                 ("annotate_candidate", "prompt_id IN (SELECT id FROM annotate_prompt WHERE project_id=%s)")]:
                c.execute(f"DELETE FROM {table} WHERE {where}", [project.pk])
        project.delete()
    project = project_create(name=PROJECT_NAME, task_kinds=["ranking"], k=4)
    t0 = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        def next_id(model):
            return (model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1

        p0, c0, t0_, tc0, r0 = (next_id(m) for m in (Prompt, Candidate, Task, TaskCandidate, Ranking))

        def prompts():
            for i in range(n):
                conv = [{"role": "user", "content": f"Bench prompt {i}: {FILLER[: 60 + i % 60]}?"}]
                h = conversation_hash(conv)
                yield {"id": p0 + i, "project_id": project.pk, "conversation": conv, "content_hash": h,
                       "split_key": split_bucket(h), "source": "bench", "tags": []}

        def candidates():
            for i in range(n):
                for j in range(4):
                    yield {"id": c0 + 4 * i + j, "prompt_id": p0 + i, "source": "bench",
                           "text": f"Answer {j} to prompt {i}. {FILLER[: 150 + (i + j) % 80]}"}

        def tasks():
            for i in range(n):
                yield {"id": t0_ + i, "project_id": project.pk, "kind": "ranking", "prompt_id": p0 + i,
                       "state": "complete", "submissions_required": 1, "submissions_count": 1}

        def task_candidates():
            for i in range(n):
                for j in range(4):
                    yield {"id": tc0 + 4 * i + j, "task_id": t0_ + i, "candidate_id": c0 + 4 * i + j, "position": j}

        def rankings():
            for i in range(n):
                ids = [c0 + 4 * i + (j + i) % 4 for j in range(4)]  # a strict order, rotated per task
                yield {"id": r0 + i, "task_id": t0_ + i, "source": "bench", "outcome": "ranked",
                       "tiers": [[c] for c in ids], "ratings": {str(ids[0]): 6, str(ids[3]): 2},
                       "shown_order": sorted(ids), "time_on_task_ms": 30_000 + i % 1000}

        for model, rows in ((Prompt, prompts()), (Candidate, candidates()), (Task, tasks()),
                            (TaskCandidate, task_candidates()), (Ranking, rankings())):
            _copy(cursor, model, rows)
            print(f"  seeded {model.__name__}", flush=True)
        cursor.execute("ANALYZE")
    print(f"seeded {n:,} rankings ({6 * n:,} pairs) in {time.perf_counter() - t0:.1f} s", flush=True)
    return project.pk


def export_only(project_id: int) -> None:
    """Runs in a fresh process: the export job, timed; prints one JSON line."""
    from annotate.models import Project
    from exports.models import ExportSnapshot
    from exports.services.snapshots import export_start
    from jobs.services import job_create, job_run  # noqa: F401

    project = Project.objects.get(pk=project_id)
    start = time.perf_counter()
    job = export_start(project=project, options={"formats": ["preference"], "file_type": "jsonl", "pairs": "all",
                                                 "chunk_size": 2000})
    job = job_run(job_id=job.pk)
    seconds = time.perf_counter() - start
    if job.status != "succeeded":
        sys.exit(f"export failed: {job.error}\n{job.traceback}")
    snap = ExportSnapshot.objects.get(pk=job.result["snapshot_id"])
    files = snap.manifest["files"]
    rows = sum(files[f"preference/{s}.jsonl"]["rows"] for s in ("train", "test"))
    size = sum(files[f"preference/{s}.jsonl"]["bytes"] for s in ("train", "test"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "bytes": size, "peak_rss_mb": peak, "path": snap.path}))


BASELINE_SQL = """
COPY (
  SELECT p.conversation -> 0 ->> 'content', ca.text, cb.text
  FROM annotate_ranking r
  JOIN annotate_task t ON t.id = r.task_id
  JOIN annotate_prompt p ON p.id = t.prompt_id
  CROSS JOIN LATERAL jsonb_array_elements(r.tiers) WITH ORDINALITY AS ta(tier, ia)
  CROSS JOIN LATERAL jsonb_array_elements_text(ta.tier) AS xa(cid)
  CROSS JOIN LATERAL jsonb_array_elements(r.tiers) WITH ORDINALITY AS tb(tier, ib)
  CROSS JOIN LATERAL jsonb_array_elements_text(tb.tier) AS xb(cid)
  JOIN annotate_candidate ca ON ca.id = xa.cid::bigint
  JOIN annotate_candidate cb ON cb.id = xb.cid::bigint
  WHERE t.project_id = %s AND ta.ia < tb.ib AND r.outcome = 'ranked'
) TO STDOUT
"""


def baseline(project_id: int, out: Path) -> tuple[int, float, int]:
    from django.db import connection

    start = time.perf_counter()
    size = 0
    with connection.cursor() as cursor, open(out, "wb") as f:
        with cursor.copy(BASELINE_SQL.replace("%s", str(int(project_id)))) as copy:
            for data in copy:
                size += len(data)
                f.write(data)
    seconds = time.perf_counter() - start
    with open(out, "rb") as f:
        rows = sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))
    return rows, seconds, size


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rankings", type=int, default=170_000)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--export-only", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the exported snapshot and the COPY file")
    args = parser.parse_args()
    setup()
    if args.export_only:
        return export_only(args.export_only)
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    project_id = seed(args.rankings, args.reseed)
    child = subprocess.run([sys.executable, __file__, "--export-only", str(project_id)], capture_output=True, text=True)
    if child.returncode:
        sys.exit(child.stdout + child.stderr)
    ours = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"export: {ours['rows']:,} rows, {ours['bytes'] / 2**20:.0f} MiB in {ours['seconds']:.2f} s", flush=True)
    out = Path(settings.DATA_DIR) / "bench-copy.tsv"
    rows, copy_seconds, size = baseline(project_id, out)
    print(f"COPY baseline: {rows:,} rows, {size / 2**20:.0f} MiB in {copy_seconds:.2f} s", flush=True)
    if rows != ours["rows"]:
        print(f"WARNING: row counts differ (export {ours['rows']}, COPY {rows})", flush=True)
    if not args.keep:
        import shutil

        out.unlink(missing_ok=True)
        shutil.rmtree(ours["path"], ignore_errors=True)
        from exports.models import ExportSnapshot

        ExportSnapshot.objects.filter(path=ours["path"]).delete()
    ratio = ours["seconds"] / copy_seconds
    print(f"export_bench rows={ours['rows']} seconds={ours['seconds']:.2f} copy_seconds={copy_seconds:.2f} "
          f"ratio={ratio:.2f} peak_rss_mb={ours['peak_rss_mb']:.0f}")


if __name__ == "__main__":
    main()
