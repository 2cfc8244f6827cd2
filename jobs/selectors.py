"""Reads of the job framework: whose jobs a user may see, and what a job's page shows."""
from __future__ import annotations

from django.db.models import QuerySet

from core.charts import line_chart
from core.permissions import user_is_admin
from jobs.models import Job
from jobs.registry import JOB_LINKS


def jobs_for_user(user) -> QuerySet:
    """Admins see every job; others only the jobs they started (e.g. a model suggestion a
    labeler asked for)."""
    return Job.objects.all() if user_is_admin(user) else Job.objects.filter(created_by=user)


def job_charts(job: Job) -> list:
    """Plots of the job's metric series, grouped by what they measure; the labelers' agreement
    stands beside a reward model's accuracy as the ceiling it can reach."""
    series = (job.metrics or {}).get("series") or {}
    agreement = (job.metrics or {}).get("labeler_agreement") or (job.result or {}).get("metrics", {}).get(
        "labeler_agreement")
    groups = {
        "Loss": {k: v for k, v in series.items() if "loss" in k},
        "Accuracy": {k: v for k, v in series.items() if "acc" in k},
        "Reward and KL": {k: v for k, v in series.items() if k in ("reward", "mean_reward", "kl", "eval_reward")},
    }
    charts = []
    for title, group in groups.items():
        if group:
            ref = {"labeler agreement": agreement} if title == "Accuracy" and agreement is not None else None
            charts.append(line_chart(group, title=title, reference=ref))
    return charts


def job_links(job: Job) -> list[tuple[str, str]]:
    """[(text, url)] of what the job made, from the providers the apps registered."""
    return [link for provider in JOB_LINKS for link in provider(job)]
