"""The job kinds the apps register, and the hooks they hang on finished jobs.

Each app registers its kinds in its AppConfig.ready, by the dotted path of the handler, so this
module imports no app:

    register_job_kind("export", label="Export snapshot", handler="exports.services.snapshots.export_job",
                      queue="exports", idempotent=True)

A handler is `handler(job, ctx) -> dict | None` (ctx: jobs.services.JobContext); its dict is the
job's result. The queue must be one of jobs.queues.QUEUES.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError


@dataclass(frozen=True)
class JobSpec:
    handler: str  # dotted path to `handler(job, ctx) -> dict | None`
    label: str = ""  # what people read on the jobs pages; the kind itself when empty
    queue: str = "default"
    # Safe to run again from the start (or it resumes by itself). A kind that is not commits its
    # work with ctx.commit_result, so that a lost worker's job is finished, not run again.
    idempotent: bool = False
    time_limit: int | None = None  # seconds; None: no limit


JOB_KINDS: dict[str, JobSpec] = {}
# Called with the Job after it finished (any status), in the worker, after the row is saved;
# e.g. rounds chain their next step from here. A hook must be idempotent: the sweeper calls the
# hooks of a finished job whose `hooks_done_at` is still empty after JOB_HEARTBEAT_TIMEOUT (its
# worker died before or while running them; a job cancelled before it started), so a hook may
# run twice.
JOB_FINISHED_HOOKS: list[Callable] = []
# Each returns [(text, url)] of what a job made (a model, a snapshot), for the job's page.
JOB_LINKS: list[Callable] = []


def register_job_kind(kind: str, **spec: Any) -> None:
    JOB_KINDS[kind] = JobSpec(**spec)


def job_finished_hook_add(hook: Callable) -> None:
    if hook not in JOB_FINISHED_HOOKS:
        JOB_FINISHED_HOOKS.append(hook)


def job_links_add(provider: Callable) -> None:
    if provider not in JOB_LINKS:
        JOB_LINKS.append(provider)


def job_kind_label(kind: str) -> str:
    spec = JOB_KINDS.get(kind)
    return (spec.label if spec and spec.label else kind.replace("_", " ").capitalize())


def job_kind_choices() -> list[tuple[str, str]]:
    return sorted(((kind, job_kind_label(kind)) for kind in JOB_KINDS), key=lambda c: c[1])


def validate_job_kind(kind: str) -> None:
    if kind not in JOB_KINDS:
        raise ValidationError(f"Unknown job kind {kind!r}; known: {', '.join(sorted(JOB_KINDS))}.")
