"""Fixtures for the exports tests: a project labelled through the real services (leases,
submissions), with overlap, ties, ratings, flags, a can't-judge answer and demonstrations."""
import json
from pathlib import Path

import pytest

# Only what the repository ships: a plain clone has no ../shared.
REPO_DATA = Path(__file__).resolve().parents[2] / "data"
DATA = REPO_DATA / "seed"
HH_FILE = REPO_DATA / "examples" / "hh_rlhf_harmless_base_dev.jsonl.gz"


@pytest.fixture(autouse=True)
def exports_dir(settings, tmp_path):
    settings.EXPORTS_DIR = tmp_path / "exports"
    return settings.EXPORTS_DIR


@pytest.fixture
def labelers(make_user, project):
    from labelers.services import membership_set

    users = []
    for name in ("ann", "bob", "cat"):
        user = make_user(name)
        membership_set(project=project, user=user, role="labeler")
        users.append(user)
    return users


def label_next(user, project, *, by_position=None, outcome="ranked", ratings=None, flags=None, reason="",
               strength="", text=None):
    """Lease the user's next task and answer it; tiers are given as candidate positions."""
    from annotate.services.assignments import task_next_for_labeler
    from annotate.services.submissions import (
        DemonstrationInput,
        RankingInput,
        demonstration_submit,
        ranking_submit,
    )

    assignment = task_next_for_labeler(user=user, project=project)
    assert assignment is not None, f"no task left for {user}"
    task = assignment.task
    if task.kind != "ranking":
        return demonstration_submit(user=user, assignment_id=assignment.pk,
                                    data=DemonstrationInput(text=text or f"Demo by {user.username}", time_on_task_ms=5000))
    ids = task.candidate_ids()
    tiers = [[ids[p] for p in tier] for tier in by_position] if by_position else []
    return ranking_submit(user=user, assignment_id=assignment.pk, data=RankingInput(
        outcome=outcome, tiers=tiers, ratings={str(ids[p]): r for p, r in (ratings or {}).items()},
        flags={str(ids[p]): f for p, f in (flags or {}).items()}, cant_judge_reason=reason,
        preference_strength=strength, time_on_task_ms=12_000))


@pytest.fixture
def labelled(project, labelers, make_ranking_task):
    """3 ranking tasks K=4 each ranked by 2 labelers (task 1: they agree; task 2: they
    disagree; task 3: one ties), 1 K=2 task with a preference strength, 1 can't-judge answer,
    1 demonstration. Returns a dict of what was made."""
    from annotate.services.projects import prompt_create, task_create

    ann, bob, cat = labelers
    tasks = [make_ranking_task(k=4, prompt=f"Question {i}: how do plants grow?", submissions_required=2)
             for i in range(3)]
    pair_task = make_ranking_task(k=2, prompt="Say hello politely.", texts=["Hello, nice to meet you.", "Yo."])
    # Each labeler takes tasks in order (closest to completion first, then id).
    label_next(ann, project, by_position=[[0], [1], [2], [3]], ratings={0: 7, 3: 1}, flags={3: ["hallucination"]})
    label_next(bob, project, by_position=[[0], [1], [2], [3]], ratings={0: 6, 3: 2})
    label_next(ann, project, by_position=[[0], [1], [2], [3]])
    label_next(bob, project, by_position=[[3], [2], [1], [0]])
    label_next(ann, project, by_position=[[2], [0, 1], [3]], ratings={2: 6, 0: 4, 1: 4, 3: 2})
    label_next(bob, project, by_position=[[2], [0], [1], [3]])
    label_next(cat, project, by_position=[[0], [1]], strength="much_better", ratings={0: 6, 1: 3})
    cant = make_ranking_task(k=3, prompt="Translate this Klingon poem.")
    label_next(cat, project, outcome="cant_judge", reason="I do not read Klingon.")
    demo_prompt = prompt_create(project=project, conversation="Write a haiku about rain.")
    task_create(project=project, prompt=demo_prompt, kind="demonstration")
    label_next(cat, project, text="Soft rain on the roof\nthe garden drinks quietly\nclouds drift out to sea")
    return {"tasks": tasks, "pair_task": pair_task, "cant_task": cant, "demo_prompt": demo_prompt}


def run_export(project, **options):
    """Run an export job synchronously; returns (snapshot, job)."""
    from exports.models import ExportSnapshot
    from exports.services.snapshots import export_start
    from jobs.services import job_run

    job = job_run(job_id=export_start(project=project, options=options).pk)
    assert job.status == "succeeded", f"{job.error}\n{job.traceback}"
    return ExportSnapshot.objects.get(pk=job.result["snapshot_id"]), job


def read_rows(snapshot, fmt, splits=("train", "test")):
    root = Path(snapshot.path)
    rows = []
    for split in splits:
        for name, info in snapshot.manifest["files"].items():
            if info["format"] == fmt and info["split"] == split:
                path = root / name
                if name.endswith(".parquet"):
                    import pyarrow.parquet as pq

                    rows += pq.read_table(path).to_pylist()
                else:
                    import gzip

                    opener = gzip.open if name.endswith(".gz") else open
                    with opener(path, "rt", encoding="utf-8") as f:
                        rows += [json.loads(line) for line in f]
    return rows
