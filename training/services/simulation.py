"""Simulated labelers with a known preference, through the labelers' own REST API.

    report = labelers_simulate(project=p, rule="keyword:please", labelers=3, noise=0.1, max_tasks=200)

Each simulated labeler is an account (created, and made a member of the project, when missing)
that takes tasks exactly as the browser client does: POST …/assignments/next/, then
POST …/ranking/ (or …/demonstration/, …/skip/), in-process through Django's URL conf with DRF's
test client. A ranking orders the candidates by the rule's score (training/ml/rules.py; equal
scores tie) and swaps each adjacent pair of tiers with probability `noise`. A demonstration task
is answered with the rule's best candidate when one satisfies the rule, and skipped with a
reason otherwise. The rule is recorded on the project (ProjectLoop), so rounds can measure the
ground truth.
"""
from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from annotate.models import Membership, Project, TaskKind
from core.roles import Role
from labelers.services.accounts import membership_set, user_create
from training.ml.rules import Rule, RuleError, best_answer, flip_adjacent, parse_rule, rank_tiers
from training.models import ProjectLoop

NO_DEMONSTRATION = "Simulated labeler: no candidate satisfies the rule {rule}, so there is nothing to answer with."
NOT_SIMULATED = "Simulated labeler: {kind} tasks are not simulated."


@dataclass
class SimulationReport:
    rule: str
    labelers: list[str]
    rankings: int = 0
    demonstrations: int = 0
    skipped: int = 0
    ties: int = 0  # rankings with at least one tier of several candidates
    flipped: int = 0  # adjacent pairs swapped by the noise
    stopped: dict[str, str] = field(default_factory=dict)  # labeler: why they stopped early

    @property
    def submitted(self) -> int:
        return self.rankings + self.demonstrations + self.skipped

    def summary(self) -> str:
        stops = "; ".join(f"{u}: {why}" for u, why in self.stopped.items())
        return (f"{self.submitted} tasks by {len(self.labelers)} simulated labelers ({self.rankings} rankings, "
                f"{self.demonstrations} demonstrations, {self.skipped} skipped; {self.ties} rankings with ties, "
                f"{self.flipped} adjacent pairs flipped by noise) under rule {self.rule}"
                + (f". Stopped early: {stops}" if stops else ""))


def rule_check(rule: str) -> Rule:
    """The parsed rule, or a ValidationError with one sentence."""
    try:
        return parse_rule(rule)
    except RuleError as exc:
        raise ValidationError(str(exc))


def simulation_check(*, rule: str, labelers: int, noise: float, max_tasks: int | None) -> Rule:
    parsed = rule_check(rule)
    if labelers < 1:
        raise ValidationError("At least one simulated labeler is needed.")
    if not 0 <= noise <= 1:
        raise ValidationError("noise is a share of adjacent pairs, between 0 and 1.")
    if max_tasks is not None and max_tasks < 0:
        raise ValidationError("max_tasks cannot be negative.")
    return parsed


@transaction.atomic
def project_loop_set(*, project: Project, rule: str) -> ProjectLoop:
    """Record the project's known rule (kept when it is already the same)."""
    rule_check(rule)
    loop, _ = ProjectLoop.objects.get_or_create(project=project)
    if loop.rule != rule:
        loop.rule = rule
        loop.save(update_fields=["rule"])
    return loop


def simulated_labelers_ensure(*, project: Project, count: int, prefix: str = "sim") -> list:
    """Accounts <prefix>-<project id>-<n>, created and made labelers of the project when missing."""
    User = get_user_model()
    users = []
    for n in range(1, count + 1):
        username = f"{prefix}-{project.pk}-{n}"
        user = User.objects.filter(username=username).first()
        if user is None:
            # Nobody logs in as a simulated labeler: an unusable password after creation.
            user = user_create(username=username, password=secrets.token_urlsafe(24))
            user.set_unusable_password()
            user.save(update_fields=["password"])
        if not Membership.objects.filter(project=project, user=user).exists():
            membership_set(project=project, user=user, role=Role.LABELER)
        users.append(user)
    return users


def _client(user):
    from rest_framework.test import APIClient

    host = next((h for h in settings.ALLOWED_HOSTS if h and "*" not in h and not h.startswith(".")), "localhost")
    client = APIClient(SERVER_NAME=host.strip("[]") if host.startswith("[") else host)
    client.force_authenticate(user=user)
    return client


class SimulationError(RuntimeError):
    """The API refused a simulated labeler's request in a way the simulation cannot handle."""


def _post(client, url: str, data: dict | None = None) -> dict:
    response = client.post(url, data or {}, format="json")
    if response.status_code >= 400:
        detail = getattr(response, "data", None) or response.content[:300]
        raise SimulationError(f"POST {url} answered {response.status_code}: {detail}")
    return response.json()


def _answer(client, assignment: dict, rule: Rule, noise: float, rng: random.Random, report: SimulationReport) -> None:
    aid, kind = assignment["id"], assignment["kind"]
    candidates = [(c["id"], c["text"]) for c in assignment["candidates"]]
    if kind == TaskKind.RANKING:
        tiers = rank_tiers(rule, candidates)
        noisy = flip_adjacent(tiers, noise, rng)
        report.flipped += sum(a != b for a, b in zip(tiers, noisy, strict=True)) // 2
        report.ties += any(len(t) > 1 for t in noisy)
        _post(client, f"/api/assignments/{aid}/ranking/", {"tiers": noisy, "time_on_task_ms": 1000})
        report.rankings += 1
    elif kind == TaskKind.DEMONSTRATION and (text := best_answer(rule, [t for _, t in candidates])) is not None:
        _post(client, f"/api/assignments/{aid}/demonstration/", {"text": text, "time_on_task_ms": 1000})
        report.demonstrations += 1
    else:
        reason = NO_DEMONSTRATION.format(rule=rule.spec) if kind == TaskKind.DEMONSTRATION else \
            NOT_SIMULATED.format(kind=kind)
        _post(client, f"/api/assignments/{aid}/skip/", {"reason": reason})
        report.skipped += 1


def labelers_simulate(*, project: Project, rule: str, labelers: int = 3, noise: float = 0.1,
                      max_tasks: int | None = None, seed: int = 0, record_rule: bool = True) -> SimulationReport:
    """Let `labelers` simulated labelers work through the project's tasks (in turn, one task each)
    until none is left or `max_tasks` tasks are answered; returns what they did."""
    parsed = simulation_check(rule=rule, labelers=labelers, noise=noise, max_tasks=max_tasks)
    if record_rule:
        project_loop_set(project=project, rule=parsed.spec)
    users = simulated_labelers_ensure(project=project, count=labelers)
    report = SimulationReport(rule=parsed.spec, labelers=[u.username for u in users])
    rng = random.Random(seed)
    clients = {u.username: _client(u) for u in users}
    active = list(clients)
    next_url = f"/api/projects/{project.pk}/assignments/next/"
    while active and (max_tasks is None or report.submitted < max_tasks):
        for username in list(active):
            if max_tasks is not None and report.submitted >= max_tasks:
                break
            client = clients[username]
            response = client.post(next_url, {}, format="json")
            if response.status_code >= 400:  # e.g. paused by the quality checks
                report.stopped[username] = str(getattr(response, "data", {}).get("detail", response.status_code))
                active.remove(username)
                continue
            assignment = response.json()["assignment"]
            if assignment is None:
                active.remove(username)
                continue
            _answer(client, assignment, parsed, noise, rng, report)
    return report
