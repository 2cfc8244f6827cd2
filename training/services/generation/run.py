"""The "generate" job: K candidates per prompt → ranking tasks, in a worker.

Resumable and idempotent: the prompt list is frozen in job.params; a prompt counts as done
when it has a live ranking task whose candidates come from exactly this job's set of model
versions; each prompt's candidates and tasks are written in one transaction under the
prompt's row lock. Seeds derive from (job seed, prompt, model, slot, try), so a resumed job
draws the same candidates it would have drawn.
"""
from __future__ import annotations

import hashlib
import time
from collections import defaultdict

from django.db import transaction

from annotate.models import Prompt, Task, TaskCandidate, TaskKind, TaskState
from annotate.services.projects import candidate_create, task_create
from jobs.models import Job
from jobs.services import JobCancelled, JobContext
from training.models import ModelVersion
from training.services.generation.backends import redact_all, sampler_for, secrets_of


def candidate_seed(base: int, prompt_id: int, model_id: int, slot: int, attempt: int) -> int:
    digest = hashlib.sha256(f"{base}:{prompt_id}:{model_id}:{slot}:{attempt}".encode()).hexdigest()
    return int(digest[:15], 16)  # < 2**60: fits a BigIntegerField and every sampler


def prompts_done(*, prompt_ids: list[int], model_ids: list[int]) -> set[int]:
    """Prompts that already have a live ranking task sampled from exactly these models."""
    wanted = set(model_ids)
    per_task: dict[int, set] = defaultdict(set)
    task_prompt: dict[int, int] = {}
    rows = (TaskCandidate.objects.filter(task__prompt_id__in=prompt_ids, task__kind=TaskKind.RANKING)
            .exclude(task__state=TaskState.CANCELLED)
            .values_list("task_id", "task__prompt_id", "candidate__model_version_id"))
    for task_id, prompt_id, model_id in rows:
        per_task[task_id].add(model_id)
        task_prompt[task_id] = prompt_id
    return {task_prompt[t] for t, models in per_task.items() if models == wanted}


class _Generation:
    def __init__(self, job: Job, ctx: JobContext):
        from training.ml.generate import SamplingConfig, throttle

        p = job.params
        self.job, self.ctx, self.p = job, ctx, p
        self.project = job.project
        by_id = {m.pk: m for m in ModelVersion.objects.filter(pk__in=p["model_version_ids"])}
        self.models = [by_id[i] for i in p["model_version_ids"]]
        self.k = int(p["k"])
        self.cfg = SamplingConfig(temperature=p["temperature"], top_p=p["top_p"], max_new_tokens=p["max_new_tokens"],
                                  max_batch_rows=p.get("max_batch_rows", 64))
        self.samplers: dict[int, object] = {}
        self.check_cancel = throttle(ctx.check_cancel, 1.0)
        self.stats = {"created_tasks": 0, "created_candidates": 0, "resampled": 0, "short_tasks": 0,
                      "skipped_prompts": [], "new_tokens": 0}
        # Where the job is, for progress between finished prompts: a local model finishes a
        # whole batch of prompts at once, so the bar also moves with its decoding steps.
        self.total, self.finished, self.chunk, self.models_done, self.steps = 0, 0, 0, 0, 0
        self.started = time.monotonic()
        self.report = throttle(self._report, PROGRESS_EVERY_S)

    def on_step(self) -> None:
        self.steps += 1
        self.check_cancel()
        self.report()

    def fraction(self) -> float:
        """Share of the job done: finished prompts, plus the current chunk's decoding so far
        (its models one after another, each at most max_new_tokens steps)."""
        in_chunk = (self.models_done + min(1.0, self.steps / max(1, self.cfg.max_new_tokens))) / len(self.models)
        return min(1.0, (self.finished + in_chunk * self.chunk) / max(1, self.total))

    def _report(self) -> None:
        done = self.fraction()
        elapsed = time.monotonic() - self.started
        eta = f" · about {_duration(elapsed / done * (1 - done))} left" if 0.01 < done < 1 else ""
        writing = f" · writing {self.chunk} more" if self.chunk else ""
        self.ctx.progress(done, f"{self.finished}/{self.total} prompts{writing}{eta}")

    def sampler(self, model: ModelVersion):
        if model.pk not in self.samplers:
            started = time.monotonic()
            self.samplers[model.pk] = sampler_for(model, self.ctx)
            self.ctx.log(f"{model.name} ready in {time.monotonic() - started:.1f} s")
        return self.samplers[model.pk]

    def slots(self, m_index: int) -> list[int]:
        return [s for s in range(self.k) if s % len(self.models) == m_index]

    def draw(self, model_index: int, prompts: list[Prompt], slots_per_prompt: list[list[int]], attempt: int):
        """Yield (prompt, [(slot, sample)]) for the given slots of each prompt."""
        model = self.models[model_index]
        seeds = [[candidate_seed(self.p["seed"], pr.pk, model.pk, s, attempt) for s in slots]
                 for pr, slots in zip(prompts, slots_per_prompt, strict=True)]
        sampler = self.sampler(model)
        self.steps = 0
        for i, samples in sampler.sample([pr.conversation for pr in prompts], seeds, self.cfg,
                                         on_step=self.on_step):
            self.stats["new_tokens"] += sum(s.new_tokens for s in samples)
            yield prompts[i], list(zip(slots_per_prompt[i], samples, strict=True))

    def finish_prompt(self, prompt: Prompt, got: dict[int, tuple[int, object]]) -> None:
        """Re-sample exact duplicates and empty answers (bounded tries), then write."""
        for attempt in range(1, self.p["max_resample_tries"] + 1):
            bad = _bad_slots(got)
            if not bad:
                break
            for m_index in sorted({got[s][0] for s in bad}):
                slots = [s for s in bad if got[s][0] == m_index]
                self.stats["resampled"] += len(slots)
                for _, pairs in self.draw(m_index, [prompt], [slots], attempt):
                    for slot, sample in pairs:
                        got[slot] = (m_index, sample)
        bad = _bad_slots(got)
        keep = {s: v for s, v in sorted(got.items()) if s not in bad}
        if len(keep) < 2:
            self.ctx.log(f"prompt {prompt.pk}: fewer than 2 distinct answers after "
                         f"{self.p['max_resample_tries']} re-samples; no task made")
            self.stats["skipped_prompts"].append(prompt.pk)
            return
        if len(keep) < self.k:
            self.ctx.log(f"prompt {prompt.pk}: {self.k - len(keep)} duplicate answers kept re-appearing; "
                         f"task has {len(keep)} candidates")
            self.stats["short_tasks"] += 1
        self.write(prompt, keep)

    @transaction.atomic
    def write(self, prompt: Prompt, keep: dict[int, tuple[int, object]]) -> None:
        Prompt.objects.select_for_update().filter(pk=prompt.pk).first()
        model_ids = [m.pk for m in self.models]
        if prompt.pk in prompts_done(prompt_ids=[prompt.pk], model_ids=model_ids):
            return  # another delivery of this job, or an identical job, got here first
        recorded = self.cfg.recorded()
        candidates = []
        for slot, (m_index, sample) in keep.items():
            model = self.models[m_index]
            candidates.append(candidate_create(
                prompt=prompt, text=sample.text, model_version=model, source=model.name, seed=sample.seed,
                sampling_params={**recorded, "backend": model.backend, "slot": slot,
                                 "finish_reason": sample.finish_reason, "new_tokens": sample.new_tokens},
                generation_job=self.job,
            ))
        task_create(project=self.project, prompt=prompt, kind=TaskKind.RANKING, candidates=candidates,
                    priority=self.p.get("priority", 0.0), generation_job=self.job)
        self.stats["created_tasks"] += 1
        self.stats["created_candidates"] += len(candidates)
        if self.p.get("demonstrations") and not Task.objects.filter(
                prompt=prompt, kind=TaskKind.DEMONSTRATION, generation_job__isnull=False).exists():
            task_create(project=self.project, prompt=prompt, kind=TaskKind.DEMONSTRATION, candidates=candidates[:1],
                        priority=self.p.get("demonstration_priority", self.p.get("priority", 0.0)),
                        generation_job=self.job)
            self.stats["created_tasks"] += 1


PROGRESS_EVERY_S = 2.0  # how often decoding steps update the job's progress bar


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _bad_slots(got: dict[int, tuple[int, object]]) -> list[int]:
    """Slots whose answer is empty or repeats an earlier slot's text exactly."""
    seen, bad = set(), []
    for slot in sorted(got):
        text = got[slot][1].text.strip()
        if not text or text in seen:
            bad.append(slot)
        seen.add(text)
    return bad


def generate(job: Job, ctx: JobContext) -> dict:
    """Handler of the "generate" job kind."""
    gen = _Generation(job, ctx)
    p = job.params
    wanted = list(p["prompt_ids"])
    prompts = {pr.pk: pr for pr in Prompt.objects.filter(project=job.project, pk__in=wanted)}
    gone = [i for i in wanted if i not in prompts]
    if gone:
        ctx.log(f"{len(gone)} prompts were deleted since the job was queued; skipped")
    done = prompts_done(prompt_ids=list(prompts), model_ids=[m.pk for m in gen.models])
    todo = [prompts[i] for i in wanted if i in prompts and i not in done]
    total = len(prompts)
    ctx.log(f"{len(todo)} prompts to sample (K={gen.k}, models: {', '.join(m.name for m in gen.models)}); "
            f"{len(done)} already done")
    finished = gen.finished = len(done)
    gen.total = total
    ctx.progress(finished / max(total, 1), f"{finished}/{total} prompts")
    started = gen.started = time.monotonic()
    try:
        step = int(p.get("chunk_prompts", 16))
        for start in range(0, len(todo), step):
            chunk = todo[start:start + step]
            gen.chunk = len(chunk)
            got: dict[int, dict[int, tuple[int, object]]] = {pr.pk: {} for pr in chunk}
            for m_index in range(len(gen.models)):
                gen.models_done = m_index
                slots = gen.slots(m_index)
                for prompt, pairs in gen.draw(m_index, chunk, [slots] * len(chunk), attempt=0):
                    for slot, sample in pairs:
                        got[prompt.pk][slot] = (m_index, sample)
                    if len(got[prompt.pk]) == gen.k:
                        gen.finish_prompt(prompt, got.pop(prompt.pk))
                        finished = gen.finished = finished + 1
                        gen.chunk -= 1
                        elapsed = time.monotonic() - started
                        ctx.set_metrics({"tokens_per_s": round(gen.stats["new_tokens"] / max(elapsed, 1e-6), 1),
                                         "new_tokens": gen.stats["new_tokens"], "prompts_done": finished})
                        gen._report()
    except JobCancelled:
        ctx.log(f"cancelled after {finished}/{total} prompts; their tasks are kept")
        raise
    except Exception as exc:
        message = redact_all(f"{exc}", secrets_of(gen.models))
        ctx.log(f"stopped after {finished}/{total} prompts: {message}")
        raise RuntimeError(f"{message} — {finished} of {total} prompts were done and kept; "
                           "retry the job to finish the rest.") from None
    stats = dict(gen.stats, prompts=total, already_done=len(done), seconds=round(time.monotonic() - started, 1))
    ctx.log(f"made {stats['created_tasks']} tasks, {stats['created_candidates']} candidates "
            f"({stats['resampled']} re-sampled)")
    return stats
