"""Imports: prompts, preference data (as completed rankings or gold tasks) and candidates.

    job = import_start(project=project, kind="preferences", path=saved_file, fmt="hh-rlhf", user=admin)

All or nothing: the file is parsed and validated once from start to end (progress shown),
then parsed again and written inside one transaction, so a bad line anywhere (or a rule that
needs the database, such as a duplicate prompt with on_duplicate="fail") changes nothing, and
the error names the line. Rows are created through annotate's services.
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from annotate.models import Project, Prompt, Ranking, Task, TaskState, conversation_hash
from annotate.services.projects import candidate_create, prompt_create, task_create
from annotate.services.submissions import RankingInput, ranking_check
from exports.importers.candidates import parse_candidates
from exports.importers.examples import EXAMPLES
from exports.importers.preferences import PREFERENCE_FORMATS, parse_preferences
from exports.importers.prompts import PROMPT_FORMATS, parse_prompts
from exports.importers.reader import ON_BYTES, READ_BYTES, ImportFailure
from exports.registry import models_by_name
from jobs.models import Job
from jobs.services import JobContext, JobInputError, job_create

IMPORT_KINDS = {"prompts": PROMPT_FORMATS, "preferences": PREFERENCE_FORMATS, "candidates": ("jsonl",)}
PARSERS = {"prompts": parse_prompts, "preferences": parse_preferences, "candidates": parse_candidates}
PROGRESS_EVERY = 500  # records checked between two progress reports (each also checks for a cancel)


@dataclass
class ImportOptions:
    kind: str
    fmt: str
    on_duplicate: str = "fail"  # a prompt already in the project: "skip" (reuse it) or "fail"
    source: str = ""  # stored on prompts, candidates and rankings; default "import:<format>"
    as_gold: bool = False  # preferences: gold tasks with the known answer instead of rankings
    make_tasks: bool = False  # candidates: group each prompt's new candidates into ranking tasks
    counts: dict = field(default_factory=dict)


def guess_format(kind: str, filename: str) -> str:
    name = filename.lower().removesuffix(".gz")
    if kind == "prompts":
        return "csv" if name.endswith(".csv") else "txt" if name.endswith(".txt") else "jsonl"
    if kind == "preferences":
        return "hh-rlhf" if "hh" in Path(name).name else "trl"
    return "jsonl"


def import_options_check(*, kind: str, fmt: str = "", filename: str = "", on_duplicate: str = "",
                         source: str = "", as_gold=False, make_tasks=False) -> ImportOptions:
    if kind not in IMPORT_KINDS:
        raise ValidationError({"kind": f"Choose one of {', '.join(IMPORT_KINDS)}; got {kind!r}."})
    fmt = fmt or guess_format(kind, filename)
    if fmt not in IMPORT_KINDS[kind]:
        raise ValidationError({"format": f"{kind} are imported from {', '.join(IMPORT_KINDS[kind])}; got {fmt!r}."})
    on_duplicate = on_duplicate or ("fail" if kind == "prompts" else "skip")
    if on_duplicate not in ("skip", "fail"):
        raise ValidationError({"on_duplicate": f"Choose skip or fail; got {on_duplicate!r}."})
    if source and not re.fullmatch(r"[\w:.\-/ ]{1,200}", source):
        raise ValidationError({"source": "A source label is up to 200 letters, digits and : . - / _ characters."})
    return ImportOptions(kind=kind, fmt=fmt, on_duplicate=on_duplicate, source=source or f"import:{fmt}",
                         as_gold=bool(as_gold), make_tasks=bool(make_tasks))


def import_upload_save(*, uploaded, filename: str) -> Path:
    """Store an uploaded file where the import job can read it (the job deletes nothing: the
    file is kept as the record of what was imported). Files over IMPORT_MAX_UPLOAD_BYTES are refused."""
    cap = settings.IMPORT_MAX_UPLOAD_BYTES
    if getattr(uploaded, "size", 0) > cap:
        raise ValidationError({"file": f"The file is larger than the upload limit of {cap / 2**20:g} MiB "
                                       "(IMPORT_MAX_UPLOAD_BYTES); split it into smaller imports."})
    safe = re.sub(r"[^\w.\-]", "_", Path(filename or "upload").name)[-100:]
    folder = Path(settings.DATA_DIR) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}-{safe}"
    with open(path, "wb") as out:
        for chunk in (uploaded.chunks() if hasattr(uploaded, "chunks") else [uploaded.read()]):
            out.write(chunk)
    return path


def import_prepare(*, uploaded=None, example: str = "", kind: str = "", fmt: str = "", on_duplicate: str = "",
                   source: str = "", as_gold=False, make_tasks=False) -> tuple[ImportOptions, Path]:
    """Check a request to import an uploaded file or a built-in example (data/examples, whose kind
    and format are known) and return (options, the path the job reads); an upload is saved first."""
    flags = {"on_duplicate": on_duplicate, "source": source, "as_gold": as_gold, "make_tasks": make_tasks}
    if example:
        found = EXAMPLES.get(example)
        if found is None:
            raise ValidationError({"example": f"Unknown example {example!r}; choose one of {', '.join(EXAMPLES)}."})
        if uploaded is not None:
            raise ValidationError({"example": "Import either a file or an example, not both."})
        if kind and kind != found.kind:
            raise ValidationError({"kind": f"The example {example!r} holds {found.kind}, not {kind}."})
        options = import_options_check(kind=found.kind, fmt=fmt or found.fmt, filename=found.filename, **flags)
        return options, found.path
    if uploaded is None:
        raise ValidationError({"file": "Choose a file to import, or one of the built-in examples."})
    if not kind:
        raise ValidationError({"kind": f"Say what the file holds: one of {', '.join(IMPORT_KINDS)}."})
    options = import_options_check(kind=kind, fmt=fmt, filename=uploaded.name, **flags)
    return options, import_upload_save(uploaded=uploaded, filename=uploaded.name)


def import_start(*, project: Project, path: Path | str, options: ImportOptions, user=None,
                 enqueue: bool = True) -> Job:
    params = {"path": str(path), "kind": options.kind, "format": options.fmt, "on_duplicate": options.on_duplicate,
              "source": options.source, "as_gold": options.as_gold, "make_tasks": options.make_tasks}
    return job_create(kind="import", project=project, params=params, user=user, enqueue=enqueue)


def import_file(*, project: Project, path: Path | str, options: ImportOptions, progress=None,
                record: Callable[[dict], None] | None = None) -> dict:
    """Validate the whole file, then write it in one transaction. Raises ImportFailure; a
    progress callback that raises (a cancelled job) stops the reading within a few MiB. `record`
    is called with the result inside the write transaction (the job records there that the
    import happened, so that it never happens twice)."""
    parse = PARSERS[options.kind]
    size, total, cap = max(1, Path(path).stat().st_size), 0, settings.IMPORT_MAX_RECORDS
    counted = [0]

    def checked(read: int) -> None:
        done = min(1.0, read / size)
        if progress:
            progress(0.5 * done, f"checked {counted[0]:,} records ({done:.0%} of the file)")

    # Progress (and the cancel check it carries) by bytes read, so a file of blank lines reports too.
    token = ON_BYTES.set(checked)
    try:
        for total, _ in enumerate(parse(path, options.fmt), start=1):
            counted[0] = total
            if total % PROGRESS_EVERY == 0:
                checked((READ_BYTES.get() or [0])[0])
            if total > cap:
                raise ImportFailure(0, f"The file holds more than {cap:,} records (IMPORT_MAX_RECORDS); "
                                       "split it into smaller imports.")
    finally:
        ON_BYTES.reset(token)
    if progress:
        progress(0.5, f"{total:,} records valid; writing")
    write = {"prompts": _write_prompts, "preferences": _write_preferences, "candidates": _write_candidates}[options.kind]
    # No progress while writing: it would update the job row inside the import's transaction.
    with transaction.atomic():
        result = write(project=project, records=parse(path, options.fmt), options=options)
        result["records"] = total
        if record:
            record(result)
    return result


def _prompt(project, conversation, options, line, *, source="", tags=(), language="en") -> Prompt:
    """A prompt through annotate's service; a refused duplicate names the line."""
    try:
        return prompt_create(project=project, conversation=conversation, source=source or options.source,
                             tags=tags, language=language, on_duplicate=options.on_duplicate)
    except ValidationError as exc:
        raise ImportFailure(line, " ".join(exc.messages))


def _prompt_count(project) -> int:
    return Prompt.objects.filter(project=project).count()


def _write_prompts(*, project, records, options) -> dict:
    before, records_seen, dropped = _prompt_count(project), 0, 0
    for line, rec in records:
        _prompt(project, rec.conversation, options, line, source=rec.source and f"{options.source} {rec.source}",
                tags=rec.tags, language=rec.language)
        records_seen, dropped = records_seen + 1, dropped + rec.dropped_turns
    # Counted, not tracked per row: one query less per line (a prompt someone else adds to the
    # project during the import would be counted too).
    created = _prompt_count(project) - before
    return {"prompts_created": created, "duplicates_skipped": records_seen - created, "dropped_turns": dropped}


def _write_preferences(*, project, records, options) -> dict:
    rankings = gold = 0
    before = _prompt_count(project)
    for line, rec in records:
        prompt = _prompt(project, rec.conversation, options, line)
        chosen = candidate_create(prompt=prompt, text=rec.chosen, source=options.source)
        rejected = candidate_create(prompt=prompt, text=rec.rejected, source=options.source)
        tiers = [[chosen.pk], [rejected.pk]]
        try:
            if options.as_gold:
                task_create(project=project, prompt=prompt, kind="ranking", candidates=[chosen, rejected],
                            is_gold=True, gold_answer={"tiers": tiers, "source": options.source})
                gold += 1
                continue
            task = task_create(project=project, prompt=prompt, kind="ranking", candidates=[chosen, rejected],
                               submissions_required=1)
            fields = ranking_check(task=task, project=project, data=RankingInput(tiers=tiers))
        except ValidationError as exc:
            raise ImportFailure(line, " ".join(exc.messages))
        # No shown order: nobody saw these candidates in Ranklab (position-bias analysis skips them).
        Ranking.objects.create(task=task, labeler=None, assignment=None, source=options.source, shown_order=[],
                               **fields)
        Task.objects.filter(pk=task.pk).update(submissions_count=1, state=TaskState.COMPLETE)
        rankings += 1
    return {"prompts_created": _prompt_count(project) - before, "rankings_created": rankings,
            "gold_tasks_created": gold}


def _write_candidates(*, project, records, options) -> dict:
    """A record's "model" names the candidate's source; a registered model version of that name
    (found through the lookup the training app registers) is linked too."""
    models: dict[str, object] = {}
    created, prompts_created, by_prompt = 0, 0, {}
    for line, rec in records:
        if rec.model and rec.model not in models:
            models[rec.model] = models_by_name([rec.model]).get(rec.model)
        if rec.prompt_id is not None:
            prompt = Prompt.objects.filter(project=project, pk=rec.prompt_id).first()
            if prompt is None:
                raise ImportFailure(line, f"prompt {rec.prompt_id} is not in this project.")
        else:
            existing = Prompt.objects.filter(project=project, content_hash=conversation_hash(rec.conversation)).first()
            prompt = existing or prompt_create(project=project, conversation=rec.conversation, source=options.source)
            prompts_created += existing is None
        candidate = candidate_create(prompt=prompt, text=rec.completion, model_version=models.get(rec.model),
                                     source=rec.model, sampling_params=rec.sampling_params, seed=rec.seed)
        by_prompt.setdefault(prompt, []).append(candidate)
        created += 1
    tasks = left = 0
    if options.make_tasks:
        k = project.k
        for prompt, cands in by_prompt.items():
            for start in range(0, len(cands), k):
                group = cands[start:start + k]
                if len(group) < 2:
                    left += len(group)
                    continue
                try:
                    task_create(project=project, prompt=prompt, kind="ranking", candidates=group)
                except ValidationError as exc:
                    raise ImportFailure(0, " ".join(exc.messages))
                tasks += 1
    return {"candidates_created": created, "prompts_created": prompts_created, "tasks_created": tasks,
            "candidates_without_task": left}


class BadImportFile(JobInputError):
    """The job's error for a refused file: its message names the line and the problem (the same
    file would fail again, so the job is not offered for retry)."""


def _summary(result: dict) -> str:
    return ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in result.items() if isinstance(v, int))


def import_job(job: Job, ctx: JobContext) -> dict:
    """The "import" job's handler. Its rows and the job's result commit together
    (ctx.commit_result): a worker lost after that commit leaves a job the sweeper records as
    succeeded, never one that Retry imports a second time."""
    p = job.params
    options = import_options_check(kind=p["kind"], fmt=p.get("format", ""), on_duplicate=p.get("on_duplicate", ""),
                                   source=p.get("source", ""), as_gold=p.get("as_gold"), make_tasks=p.get("make_tasks"))
    try:
        result = import_file(project=job.project, path=p["path"], options=options, progress=ctx.progress,
                             record=lambda done: ctx.commit_result(done, message=f"imported: {_summary(done)}"))
    except ImportFailure as exc:
        raise BadImportFile(exc.messages[0] + " Nothing was imported.") from None
    ctx.log("imported: " + _summary(result))
    return result
