"""Seed the demo: accounts, a project with real prompts, the bundled base model.

It lives in the training app, the top of the layers, because it seeds every app. Running it
again reuses what exists; passwords are generated once and kept in
RANKLAB_DATA_DIR/demo-credentials.json (readable by the owner only)."""
import json
import os
import secrets

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from annotate.models import Project, TaskKind
from annotate.seed import seed_prompts
from annotate.services.projects import project_create, prompt_create, task_create
from labelers.services import membership_set, user_create

DEMO_PROJECT = "Demo: assistant answers"
DEMO_PROMPTS = 12
RANKING_PRIORITY, DEMONSTRATION_PRIORITY, DIALOGUE_PRIORITY = 1.0, 0.5, 0.0
ACCOUNTS = [("admin", "admin"), ("reviewer", "reviewer"), ("labeler1", "labeler"), ("labeler2", "labeler")]
GUIDELINES = """# How to judge answers

You are helping train an assistant that is **helpful, honest and harmless** (InstructGPT's criteria).

1. **Rank** the answers from best to worst. Put answers of equal quality in the same tier.
2. **Rate** each answer's overall quality from 1 (terrible) to 7 (perfect).
3. **Flag** problems: made-up facts, failing the instruction, harmful or inappropriate content.
4. If no answer is acceptable, say so; if you can't judge (e.g. you lack the expertise), say why.

Prefer answers that follow the instruction, are correct, and are concise. When helpfulness and
harmlessness conflict, harmlessness wins.
"""


class Command(BaseCommand):
    help = "Create the demo project, accounts and bundled model (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--no-model", action="store_true", help="Skip registering/converting the bundled model.")
        parser.add_argument("--no-generate", action="store_true", help="Do not queue candidate generation.")

    def handle(self, *args, **opts):
        creds = self._accounts()
        project, created = self._project(creds)
        if not opts["no_model"]:
            self._model(project, generate=created and not opts["no_generate"])
        self.stdout.write(self.style.SUCCESS(f"Demo project: {project.name} ({project.prompts.count()} prompts, "
                                             f"{project.tasks.count()} tasks)"))
        self.stdout.write(f"Demo accounts (also in {self._creds_path()}):")
        for username, role in ACCOUNTS:
            self.stdout.write(f"  {role:9s} {username:9s} password: {creds[username]}")

    def _creds_path(self):
        return settings.DATA_DIR / "demo-credentials.json"

    def _accounts(self) -> dict:
        from django.contrib.auth import get_user_model

        path = self._creds_path()
        creds = json.loads(path.read_text()) if path.exists() else {}
        User = get_user_model()
        for username, role in ACCOUNTS:
            if username not in creds or not User.objects.filter(username=username).exists():
                creds[username] = creds.get(username) or secrets.token_urlsafe(9)
                user = user_create(username=username, password=creds[username], role=role)
                if role == "admin":
                    user.is_superuser = True
                    user.save(update_fields=["is_superuser"])
        path.write_text(json.dumps(creds, indent=2))
        os.chmod(path, 0o600)
        return creds

    @transaction.atomic
    def _project(self, creds):
        from django.contrib.auth import get_user_model

        project = Project.objects.filter(name=DEMO_PROJECT).first()
        created = project is None
        if created:
            project = project_create(
                name=DEMO_PROJECT, guidelines=GUIDELINES, k=4, submissions_required=1,
                description="Real prompts from MT-bench, Vicuna bench and Self-Instruct; answers from SmolLM2.",
                task_kinds=[TaskKind.RANKING, TaskKind.DEMONSTRATION, TaskKind.DIALOGUE],
            )
            prompts = seed_prompts()
            made = {}
            for source, rows in prompts.items():
                made[source] = [
                    prompt_create(project=project, conversation=r["conversation"], tags=r["tags"], source=source,
                                  on_duplicate="skip")
                    for r in rows
                ]
            # Dialogues wait behind the ranking and demonstration tasks that SmolLM2's answers
            # make (_model): a labeler starts on a ranking, the demo's main task.
            for prompt in made["self-instruct"][:5]:
                task_create(project=project, prompt=prompt, kind=TaskKind.DIALOGUE, priority=DIALOGUE_PRIORITY)
        User = get_user_model()
        for username, role in ACCOUNTS:
            membership_set(project=project, user=User.objects.get(username=username), role=role)
        return project, created

    def _model(self, project, generate: bool):
        from training.services.registry import bundled_model_ensure

        model = bundled_model_ensure(convert=True)
        project.sampling_models.add(model)
        if not generate:
            return
        try:
            from training.services.generation import generation_start
        except ImportError:
            return
        prompts = project.prompts.filter(source="vicuna-bench").order_by("pk")[:DEMO_PROMPTS]
        # One ranking task per prompt, first in the queue, and a demonstration task that starts
        # from one of the model's answers (its suggestion), after the rankings.
        generation_start(project=project, model_versions=[model], k=4, prompts=prompts,
                         params={"max_new_tokens": 96, "temperature": 0.9, "top_p": 0.95, "demonstrations": True,
                                 "priority": RANKING_PRIORITY, "demonstration_priority": DEMONSTRATION_PRIORITY})
        self.stdout.write("Queued SmolLM2's answers for the demo's ranking and demonstration tasks "
                          "(the worker writes them; about 2 min).")
