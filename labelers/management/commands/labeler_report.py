"""Print a project's label quality: agreement, alpha and one row per labeler; optionally sweep
expired leases first.

    manage.py labeler_report --project "Demo project" [--expire-leases] [--json]
"""
import json

from django.core.management.base import BaseCommand, CommandError

from annotate.models import Project
from annotate.services.assignments import leases_expire
from labelers.selectors.stats import labeler_stats, project_quality


def _pct(v):
    return "–" if v is None else f"{v:.1%}"


class Command(BaseCommand):
    help = "Label quality of a project: agreement, Krippendorff's alpha, per-labeler stats."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project name or id")
        parser.add_argument("--expire-leases", action="store_true", help="return expired leases to the pool first")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        key = opts["project"]
        project = Project.objects.filter(pk=int(key)).first() if key.isdecimal() else None  # "²" is a digit, not a number
        project = project or Project.objects.filter(name=key).first()
        if project is None:
            raise CommandError(f"No project named or numbered {key!r}.")
        if opts["expire_leases"]:
            self.stdout.write(f"expired leases returned: {leases_expire(project=project)}")
        summary, rows = project_quality(project=project), labeler_stats(project=project)
        if opts["json"]:
            self.stdout.write(json.dumps({"project": summary, "labelers": rows}, default=str, indent=2))
            return
        self.stdout.write(f"{project.name}: {summary['tasks_complete']}/{summary['tasks']} tasks complete, "
                          f"agreement {_pct(summary['pairwise_agreement'])} (ties ½), "
                          f"ratings alpha {summary['ratings_alpha']}, open alerts {summary['open_alerts']}")
        self.stdout.write(f"{'labeler':<20} {'done':>5} {'skips':>5} {'s/task':>7} {'tasks/h':>8} "
                          f"{'gold':>7} {'agree':>7} status")
        for r in rows:
            self.stdout.write(
                f"{r['username'][:20]:<20} {r['tasks_done']:>5} {r['skips']:>5} "
                f"{r['median_seconds_per_task'] or '–':>7} {r['throughput_per_hour'] or '–':>8} "
                f"{_pct(r['gold_accuracy']):>7} {_pct(r['consensus_agreement']):>7} "
                f"{'paused: ' + r['paused_reason'] if r['is_paused'] else 'active'}")
