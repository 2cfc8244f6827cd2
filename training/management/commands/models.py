"""The model registry from the shell.

    manage.py models list
    manage.py models register NAME --backend transformers --location /path/to/dir [--parent NAME]
    manage.py models register NAME --backend gguf --location model.gguf          # queues the conversion
    manage.py models register NAME --backend openai --location http://host:8080/v1 --endpoint-model M \
        [--api-key-env VAR]                                                        # key read from $VAR
    manage.py models sample PROJECT_NAME MODEL_NAME [MODEL_NAME ...]              # the project samples from them
    manage.py models lineage NAME
    manage.py models generate PROJECT_NAME [--k 4] [--n 20] [--mode unused] [--max-new-tokens 256]

An API key is read from an environment variable, never from the command line (which lands
in shell history and `ps`)."""
import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from annotate.models import Project
from training.apis import public_location
from training.models import Backend, ModelKind, ModelVersion
from training.services.generation import generation_start
from training.services.registry import model_add, model_lineage, project_sampling_models_set


def _model(name: str) -> ModelVersion:
    model = ModelVersion.objects.filter(name=name).first()
    if model is None:
        raise CommandError(f"No model named {name!r}.")
    return model


def _project(name: str) -> Project:
    project = Project.objects.filter(name=name).first()
    if project is None:
        raise CommandError(f"No project named {name!r}.")
    return project


class Command(BaseCommand):
    help = "List, register and choose models; start candidate generation."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list")
        reg = sub.add_parser("register")
        reg.add_argument("name")
        reg.add_argument("--backend", choices=Backend.values, required=True)
        reg.add_argument("--location", required=True)
        reg.add_argument("--kind", choices=ModelKind.values, default=ModelKind.POLICY)
        reg.add_argument("--parent")
        reg.add_argument("--endpoint-model", default="")
        reg.add_argument("--api-key-env", default="", help="name of the environment variable holding the key")
        smp = sub.add_parser("sample")
        smp.add_argument("project")
        smp.add_argument("models", nargs="+")
        lin = sub.add_parser("lineage")
        lin.add_argument("name")
        gen = sub.add_parser("generate")
        gen.add_argument("project")
        gen.add_argument("--models", nargs="*", default=None, help="default: the project's sampling models")
        gen.add_argument("--k", type=int)
        gen.add_argument("--mode", default="unused")
        gen.add_argument("--tag", default="")
        gen.add_argument("--n", type=int)
        gen.add_argument("--temperature", type=float, default=1.0)
        gen.add_argument("--top-p", type=float, default=0.95)
        gen.add_argument("--max-new-tokens", type=int, default=256)

    def handle(self, *args, action, **o):
        try:
            getattr(self, f"_{action}")(**o)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages))

    def _list(self, **o):
        for m in ModelVersion.objects.select_related("parent").order_by("created_at"):
            extra = " (key set)" if m.api_key else ""
            self.stdout.write(f"{m.pk:4d}  {m.name:32s} {m.kind:7s} {m.backend:12s} parent={m.parent.name if m.parent else '-'}"
                              f"  {public_location(m)}{extra}")

    def _register(self, *, name, backend, location, kind, parent, endpoint_model, api_key_env, **o):
        api_key = ""
        if api_key_env:
            api_key = os.environ.get(api_key_env, "")
            if not api_key:
                raise CommandError(f"${api_key_env} is empty.")
        fields = {"kind": kind, "parent": _model(parent) if parent else None, "endpoint_model": endpoint_model,
                  "api_key": api_key}
        model = model_add(name=name, backend=backend, location=location, **fields)
        if backend == Backend.GGUF:
            self.stdout.write(self.style.SUCCESS(f"Registered {model.name}; a worker converts it to {model.config['converted_dir']}."))
        else:
            self.stdout.write(self.style.SUCCESS(f"Registered {model.name} (id {model.pk})."))

    def _sample(self, *, project, models, **o):
        chosen = project_sampling_models_set(project=_project(project), models=[_model(n) for n in models])
        self.stdout.write(self.style.SUCCESS(f"{project} samples from {', '.join(m.name for m in chosen)}."))

    def _lineage(self, *, name, **o):
        model = _model(name)
        lineage = model_lineage(model=model)
        for depth, a in enumerate(lineage["ancestors"]):
            self.stdout.write("  " * depth + a.name)
        base = len(lineage["ancestors"])
        self.stdout.write("  " * base + f"{model.name}  <-")

        def walk(nodes, depth):
            for node in nodes:
                self.stdout.write("  " * depth + node["model"].name)
                walk(node["children"], depth + 1)

        walk(lineage["descendants"], base + 1)

    def _generate(self, *, project, models, k, mode, tag, n, temperature, top_p, max_new_tokens, **o):
        p = _project(project)
        chosen = [_model(m) for m in models] if models else list(p.sampling_models.order_by("pk"))
        selection = {"mode": mode, "tag": tag, **({"n": n} if n else {})}
        job = generation_start(project=p, model_versions=chosen, k=k, selection=selection,
                               params={"temperature": temperature, "top_p": top_p, "max_new_tokens": max_new_tokens})
        self.stdout.write(self.style.SUCCESS(f"Queued generation job {job.pk} for {len(job.params['prompt_ids'])} prompts."))
