"""Projects, prompts, candidates and tasks: how rows are created, with the rules that need
other rows."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from annotate.models import Candidate, Project, Prompt, Task, TaskCandidate, TaskKind, conversation_hash


@transaction.atomic
def project_create(**fields) -> Project:
    sampling_models = fields.pop("sampling_models", None)
    project = Project(**fields)
    project.full_clean()
    project.save()
    if sampling_models:
        project.sampling_models.set(sampling_models)
    return project


def prompt_create(*, project: Project, conversation: list[dict] | str, source: str = "", tags=None,
                  language: str = "en", on_duplicate: str = "fail") -> Prompt:
    """A prompt from a conversation (or a plain string, a single user turn). A prompt already
    in the project is returned as is with on_duplicate="skip", refused with "fail"."""
    if isinstance(conversation, str):
        conversation = [{"role": "user", "content": conversation}]
    prompt = Prompt(project=project, conversation=conversation, source=source, tags=list(tags or []),
                    language=language)
    prompt.full_clean(exclude=["content_hash", "split_key"])
    existing = Prompt.objects.filter(project=project, content_hash=conversation_hash(conversation)).first()
    if existing:
        if on_duplicate == "skip":
            return existing
        raise ValidationError(f"This prompt is already in the project (prompt {existing.pk}).")
    try:
        with transaction.atomic():
            prompt.save()
    except IntegrityError:  # a concurrent insert of the same prompt
        if on_duplicate == "skip":
            return Prompt.objects.get(project=project, content_hash=prompt.content_hash)
        raise ValidationError("This prompt is already in the project.") from None
    return prompt


def candidate_create(*, prompt: Prompt, text: str, model_version=None, author=None, source: str = "",
                     sampling_params: dict | None = None, seed: int | None = None, generation_job=None) -> Candidate:
    if not isinstance(text, str):
        raise ValidationError("A candidate's text must be a string.")
    return Candidate.objects.create(
        prompt=prompt, text=text, model_version=model_version, author=author, source=source,
        sampling_params=sampling_params or {}, seed=seed, generation_job=generation_job,
    )


@transaction.atomic
def task_create(*, project: Project, prompt: Prompt, kind: str = TaskKind.RANKING,
                candidates: list[Candidate] = (), submissions_required: int | None = None,
                is_gold: bool = False, gold_answer=None, priority: float = 0.0, generation_job=None) -> Task:
    """A task with its fixed candidate set. Ranking tasks need 2..9 candidates of the prompt."""
    if kind not in TaskKind.values:
        raise ValidationError(f"Unknown task kind {kind!r}.")
    if kind not in project.task_kinds:
        raise ValidationError(f"The project does not collect {kind} tasks (it collects {', '.join(project.task_kinds)}).")
    if prompt.project_id != project.pk:
        raise ValidationError("The prompt belongs to another project.")
    candidates = list(candidates)
    if kind == TaskKind.RANKING and not 2 <= len(candidates) <= 9:
        raise ValidationError(f"A ranking task needs 2 to 9 candidates, got {len(candidates)}.")
    if any(c.prompt_id != prompt.pk for c in candidates):
        raise ValidationError("Every candidate must answer the task's prompt.")
    if len({c.pk for c in candidates}) != len(candidates):
        raise ValidationError("A candidate appears twice in the task.")
    task = Task.objects.create(
        project=project, prompt=prompt, kind=kind,
        submissions_required=submissions_required or project.submissions_required,
        is_gold=is_gold, gold_answer=gold_answer, priority=priority, generation_job=generation_job,
    )
    TaskCandidate.objects.bulk_create(
        [TaskCandidate(task=task, candidate=c, position=i) for i, c in enumerate(candidates)]
    )
    return task


@transaction.atomic
def project_update(*, project: Project, **fields) -> Project:
    """Change a project's settings; the same rules as project_create (Project.clean)."""
    sampling_models = fields.pop("sampling_models", None)
    for name, value in fields.items():
        setattr(project, name, value)
    project.full_clean()
    project.save()
    if sampling_models is not None:
        project.sampling_models.set(sampling_models)
    return project
