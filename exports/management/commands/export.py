"""Make an export snapshot of a project from the command line.

    python manage.py export --project "My project" --formats preference,ranked_groups --test-ratio 0.1
    python manage.py export --project 3 --options '{"merge": "consensus", "min_agreement": 0.6}' --queue

Runs the export job here (progress on stderr) unless --queue sends it to the workers.
"""
import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from annotate.models import Project
from exports.models import ExportSnapshot
from exports.services.snapshots import export_start
from jobs.services import job_run

FLAGS = {"formats": str, "file_type": str, "test_ratio": float, "pairs": str, "margin": str, "merge": str,
         "date_from": str, "date_to": str, "labelers": str, "min_agreement": float, "min_submissions": int}
SWITCHES = ("only_accepted", "exclude_gold", "include_cant_judge", "exclude_imported")


def project_arg(value: str) -> Project:
    project = Project.objects.filter(pk=int(value)).first() if value.isdecimal() else None  # "²" is a digit, not a number
    project = project or Project.objects.filter(name=value).first()
    if project is None:
        raise CommandError(f"No project {value!r} (give its id or exact name).")
    return project


class Command(BaseCommand):
    help = "Create a versioned export snapshot of a project (runs the export job)."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project id or name")
        for name, kind in FLAGS.items():
            parser.add_argument(f"--{name.replace('_', '-')}", type=kind)
        for name in SWITCHES:
            parser.add_argument(f"--{name.replace('_', '-')}", action="store_true")
        parser.add_argument("--options", default="{}", help="more options as a JSON object")
        parser.add_argument("--queue", action="store_true", help="enqueue for the workers instead of running here")

    def handle(self, *args, **o):
        project = project_arg(o["project"])
        try:
            options = json.loads(o["options"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--options is not JSON: {exc}")
        options.update({k: o[k] for k in FLAGS if o.get(k) is not None})
        for name in ("only_accepted", "exclude_gold"):
            if o[name]:
                options[name] = True
        if o["include_cant_judge"]:
            options["exclude_cant_judge"] = False
        if o["exclude_imported"]:
            options["include_imported"] = False
        try:
            job = export_start(project=project, options=options, enqueue=o["queue"])
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
                               if hasattr(exc, "error_dict") else " ".join(exc.messages))
        if o["queue"]:
            self.stdout.write(f"export job {job.pk} queued")
            return
        job = job_run(job_id=job.pk)
        if job is None or job.status != "succeeded":
            raise CommandError(f"export job {job.pk if job else '?'} {job.status if job else 'not run'}: "
                               f"{job.error if job else ''}")
        snapshot = ExportSnapshot.objects.get(pk=job.result["snapshot_id"])
        self.stdout.write(f"{project.name} v{snapshot.version}: {snapshot.path}\nsha256 {snapshot.sha256}")
