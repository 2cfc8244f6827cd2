"""Reading a project's labels for an export, in chunks, as plain records.

Rankings are read task by task in keyset order (task id, then ranking id): each chunk is a
handful of indexed queries returning tuples, never model instances, so memory stays flat
whatever the project's size and the order (hence the files) is the same every time.

Filters that need one row (dates, labelers, review, gold, can't judge, imported) are SQL;
those that need a task's other rankings (minimum submissions, minimum agreement) and the
consensus merge are applied per task in Python.

An export reads rows as they are committed while it runs (not one database snapshot: the job
reports progress on the same connection). Submissions are immutable, so every row is whole; a
ranking submitted during an export may or may not be in it, and the manifest's counts always
describe the files.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from statistics import median_low

from django.db import connection
from django.db.models import Exists, OuterRef, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from annotate.models import (
    Demonstration,
    Project,
    Prompt,
    Ranking,
    RankingOutcome,
    ReviewStatus,
    Task,
    TaskCandidate,
)
from core.ranking import task_agreement
from exports.services.options import ExportOptions
from exports.services.prefetch import prefetched
from exports.writers.records import Demo, Group
from labelers.agreement import consensus_tiers


@dataclass
class TaskBundle:
    """A task's submissions as made, and the rows the ranking formats read (the ranked
    submissions, or their consensus)."""

    task_id: int
    submissions: list[Group]
    merged: list[Group]
    agreement: float | None = None


@dataclass
class Pseudonyms:
    """Labeler account id -> "L1", "L2", … in account order: stable within an export and the
    same for the same data, never the account id itself."""

    ids: dict[int, str] = field(default_factory=dict)

    def name(self, user_id: int | None, source: str) -> str:
        if user_id is None:
            return source or "import"
        return self.ids.setdefault(user_id, f"L{len(self.ids) + 1}")


def _is_day(value: str) -> bool:
    return len(value) == 10 and parse_date(value) is not None


def _bound(value: str, *, end: bool) -> datetime:
    """A filter bound; a bare date runs from its midnight to the next (end bound exclusive)."""
    if _is_day(value):
        day = parse_date(value)
        moment = datetime.combine(day + timedelta(days=1) if end else day, time.min)
    else:
        moment = parse_datetime(value)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return moment


def _row_filter(qs, opts: ExportOptions, *, cant_judge: bool):
    """The filters one submission row decides by itself (no join needed)."""
    if opts.date_from:
        qs = qs.filter(created_at__gte=_bound(opts.date_from, end=False))
    if opts.date_to:
        bare = _is_day(opts.date_to)
        qs = qs.filter(**{"created_at__lt" if bare else "created_at__lte": _bound(opts.date_to, end=bare)})
    if opts.labelers:
        qs = qs.filter(labeler_id__in=opts.labelers)
    if opts.only_accepted:
        qs = qs.filter(review_status=ReviewStatus.ACCEPTED)
    if not opts.include_imported:
        qs = qs.filter(labeler__isnull=False)
    if cant_judge and opts.exclude_cant_judge:
        qs = qs.exclude(outcome=RankingOutcome.CANT_JUDGE)
    return qs


def rankings_queryset(*, project: Project, opts: ExportOptions):
    qs = _row_filter(Ranking.objects.filter(task__project=project), opts, cant_judge=True)
    return qs.filter(task__is_gold=False) if opts.exclude_gold else qs


def demonstrations_queryset(*, project: Project, opts: ExportOptions):
    qs = _row_filter(Demonstration.objects.filter(task__project=project), opts, cant_judge=False)
    return qs.filter(task__is_gold=False) if opts.exclude_gold else qs


def pseudonyms_for(*, project: Project, opts: ExportOptions) -> Pseudonyms:
    ids = set(rankings_queryset(project=project, opts=opts).exclude(labeler=None).values_list("labeler_id", flat=True).distinct())
    ids |= set(demonstrations_queryset(project=project, opts=opts).exclude(labeler=None)
               .values_list("labeler_id", flat=True).distinct())
    names = Pseudonyms()
    for user_id in sorted(ids):
        names.name(user_id, "")
    return names


def _split(split_key: float, ratio: float) -> str:
    return "test" if split_key < ratio else "train"


RANKING_COLUMNS = ("pk", "task_id", "labeler_id", "source", "outcome", "tiers", "ratings", "flags",
                   "preference_strength", "shown_order", "time_on_task_ms", "created_at", "review_status",
                   "cant_judge_reason", "rationale")
# What the pair and group formats need; the raw format needs RANKING_COLUMNS.
LEAN_COLUMNS = RANKING_COLUMNS[:9]
EMPTY = (None,) * 9 + ("[]", None, None, "pending", "", "")
# JSON columns come back as text and are decoded here: most are "{}" or "[]", and skipping the
# decoder for those (and Django's per-value converter for all) is a third of an export's time.
JSON_COLUMNS = frozenset({"tiers", "ratings", "flags", "shown_order"})


def _json(text):
    if text is None or text == "{}" or text == "[]":
        return None
    return json.loads(text)


def _values(qs, columns: tuple):
    casts = {f"{c}_text": Cast(c, TextField()) for c in columns if c in JSON_COLUMNS}
    return qs.annotate(**casts).values_list(*(f"{c}_text" if c in JSON_COLUMNS else c for c in columns))


def _group(row: tuple, task: tuple, cands: list[tuple], names: Pseudonyms, opts: ExportOptions) -> Group:
    (pk, task_id, labeler_id, source, outcome, tiers, ratings, flags, strength, shown, ms, created, review,
     reason, rationale) = row
    tiers, ratings, flags, shown = _json(tiers), _json(ratings), _json(flags), _json(shown)
    _, prompt_id, is_gold, conversation, split_key = task
    index = {cid: i for i, (cid, _, _) in enumerate(cands)}
    return Group(
        id=f"r{pk}", task_id=task_id, prompt_id=prompt_id, conversation=conversation,
        split=_split(split_key, opts.test_ratio), completions=[text for _, text, _ in cands],
        candidate_ids=[cid for cid, _, _ in cands], model_versions=[mv for _, _, mv in cands],
        tiers=[[index[c] for c in tier] for tier in tiers or []],
        ratings=[ratings.get(str(cid)) for cid, _, _ in cands] if ratings else [None] * len(cands),
        flags=[list(flags.get(str(cid), [])) for cid, _, _ in cands] if flags else [[] for _ in cands],
        preference_strength=strength or None, labeler=names.name(labeler_id, source), outcome=outcome,
        shown_order=[index[c] for c in shown or [] if c in index], time_on_task_ms=ms,
        created_at=created.isoformat() if created else None, source=source, review_status=review,
        is_gold=is_gold, cant_judge_reason=reason, rationale=rationale,
    )


def _consensus(ranked: list[Group]) -> Group:
    first = ranked[0]
    k = len(first.completions)
    ratings = []
    for i in range(k):
        given = [g.ratings[i] for g in ranked if g.ratings[i] is not None]
        ratings.append(median_low(given) if given else None)
    strengths = {g.preference_strength for g in ranked}
    return Group(
        id=f"t{first.task_id}", task_id=first.task_id, prompt_id=first.prompt_id, conversation=first.conversation,
        split=first.split, completions=first.completions, candidate_ids=first.candidate_ids,
        model_versions=first.model_versions, tiers=consensus_tiers([g.tiers for g in ranked]), ratings=ratings,
        flags=[sorted({f for g in ranked for f in g.flags[i]}) for i in range(k)],
        preference_strength=strengths.pop() if len(strengths) == 1 else None, labeler="consensus",
        source=first.source if len({g.source for g in ranked}) == 1 else "mixed", is_gold=first.is_gold,
        submissions=len(ranked),
    )


def _in_chunk(task_ids: list[int], last: int) -> dict:
    """Filter on the chunk's task ids: a range when the ids are dense (cheap to send and to
    plan), an IN list otherwise. A range may catch other projects' tasks: callers drop rows
    whose task is not in the chunk."""
    if task_ids[-1] - last <= 2 * len(task_ids):
        return {"task_id__gt": last, "task_id__lte": task_ids[-1]}
    return {"task_id__in": task_ids}


def iter_task_bundles(*, project: Project, opts: ExportOptions, names: Pseudonyms,
                      columns: tuple = RANKING_COLUMNS) -> Iterator[TaskBundle]:
    """Every task with at least one ranking passing the filters, in task id order. Columns
    left out of `columns` (e.g. when no raw format is written) come back empty.

    Keyset pagination over the project's tasks; per chunk, four index lookups that never join
    back to the task table (a join there makes PostgreSQL rescan the project's tasks on every
    chunk, which turns a linear export quadratic)."""
    def chunks():
        return _read_chunks(project=project, opts=opts, columns=columns)

    for tasks, prompts, cands, rows in prefetched(chunks, enabled=not connection.in_atomic_block):
        for task_id, (_, prompt_id, is_gold) in tasks.items():
            _, conversation, split_key = prompts[prompt_id]
            info = (task_id, prompt_id, is_gold, conversation, split_key)
            subs = [_group(r, info, cands[task_id], names, opts) for r in rows[task_id]]
            bundle = _bundle(task_id, subs, opts)
            if bundle is not None:
                yield bundle


def _read_chunks(*, project: Project, opts: ExportOptions, columns: tuple) -> Iterator[tuple]:
    """(tasks, prompts, candidates by task, ranking rows by task) for each chunk of tasks."""
    rows_qs = _row_filter(Ranking.objects.all(), opts, cant_judge=True)
    tasks_qs = Task.objects.filter(project=project)
    if opts.exclude_gold:
        tasks_qs = tasks_qs.filter(is_gold=False)
    last = 0
    while True:
        # The bound is repeated inside EXISTS so that its semi-join starts at `last` too.
        has_rows = Exists(rows_qs.filter(task_id=OuterRef("pk"), task_id__gt=last))
        tasks = {t[0]: t for t in tasks_qs.filter(has_rows, pk__gt=last).order_by("pk")
                 .values_list("pk", "prompt_id", "is_gold")[: opts.chunk_size]}
        if not tasks:
            return
        task_ids = list(tasks)
        where = _in_chunk(task_ids, last)
        last = task_ids[-1]
        prompts = {p[0]: p for p in Prompt.objects.filter(pk__in={t[1] for t in tasks.values()})
                   .values_list("pk", "conversation", "split_key")}
        cands: dict[int, list] = defaultdict(list)
        for task_id, cid, text, mv in (TaskCandidate.objects.filter(**where).order_by("task_id", "position")
                                       .values_list("task_id", "candidate_id", "candidate__text",
                                                    "candidate__model_version_id")):
            if task_id in tasks:
                cands[task_id].append((cid, text, mv))
        rows: dict[int, list] = defaultdict(list)
        for row in _values(rows_qs.filter(**where).order_by("task_id", "pk"), columns):
            if row[1] in tasks:
                rows[row[1]].append(row + EMPTY[len(row):])
        yield tasks, prompts, cands, rows


def _bundle(task_id: int, subs: list[Group], opts: ExportOptions) -> TaskBundle | None:
    if len(subs) < opts.min_submissions:
        return None
    ranked = [g for g in subs if g.outcome == RankingOutcome.RANKED and g.tiers]
    agreement = task_agreement([g.tiers for g in ranked]) if len(ranked) >= 2 else None
    if opts.min_agreement is not None and (agreement is None or agreement < opts.min_agreement):
        return None
    if opts.merge == "consensus" and ranked:
        merged = [_consensus(ranked)]
    else:
        merged = ranked
    return TaskBundle(task_id=task_id, submissions=subs, merged=merged, agreement=agreement)


DEMO_COLUMNS = ("pk", "task_id", "task__prompt_id", "task__prompt__conversation", "task__prompt__split_key",
                "text", "conversation", "labeler_id", "source", "suggestion_used", "time_on_task_ms", "created_at")


def iter_demos(*, project: Project, opts: ExportOptions, names: Pseudonyms) -> Iterator[Demo]:
    """Demonstrations in id order: a demonstration's text answers its prompt; a dialogue's
    conversation is the whole exchange."""
    base = demonstrations_queryset(project=project, opts=opts).order_by("pk")
    last = 0
    while True:
        chunk = list(base.filter(pk__gt=last).values_list(*DEMO_COLUMNS)[: opts.chunk_size])
        if not chunk:
            return
        last = chunk[-1][0]
        for pk, task_id, prompt_id, prompt, split_key, text, conv, labeler_id, source, used, ms, created in chunk:
            messages = conv if conv else list(prompt) + [{"role": "assistant", "content": text}]
            yield Demo(id=f"d{pk}", task_id=task_id, prompt_id=prompt_id, split=_split(split_key, opts.test_ratio),
                       messages=messages, labeler=names.name(labeler_id, source), source=source,
                       suggestion_used=used, time_on_task_ms=ms, created_at=created.isoformat() if created else None)
