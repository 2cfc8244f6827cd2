"""Import prompts, preference data or candidates into a project.

    python manage.py import --project "My project" --kind prompts ../shared/data/mt_bench_questions.jsonl --format mt-bench
    python manage.py import --project 3 --kind preferences hh_rlhf.jsonl.gz --format hh-rlhf

All or nothing: a bad line anywhere changes nothing, and the error names it.
"""
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from exports.management.commands.export import project_arg
from exports.services.imports import IMPORT_KINDS, import_options_check, import_start
from jobs.services import job_run


class Command(BaseCommand):
    help = "Import a file of prompts, preferences or candidates (runs the import job)."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--project", required=True, help="project id or name")
        parser.add_argument("--kind", required=True, choices=list(IMPORT_KINDS))
        parser.add_argument("--format", default="", help="default: guessed from the file name")
        parser.add_argument("--on-duplicate", choices=["skip", "fail"], default="")
        parser.add_argument("--source", default="")
        parser.add_argument("--as-gold", action="store_true")
        parser.add_argument("--make-tasks", action="store_true")

    def handle(self, *args, **o):
        project = project_arg(o["project"])
        path = Path(o["path"]).resolve()
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        try:
            options = import_options_check(kind=o["kind"], fmt=o["format"], filename=path.name,
                                           on_duplicate=o["on_duplicate"], source=o["source"], as_gold=o["as_gold"],
                                           make_tasks=o["make_tasks"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages))
        job = job_run(job_id=import_start(project=project, path=path, options=options, enqueue=False).pk)
        if job.status != "succeeded":
            raise CommandError(job.error)
        self.stdout.write(", ".join(f"{k}: {v}" for k, v in job.result.items()))
