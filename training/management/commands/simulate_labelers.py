"""Simulated labelers with a known preference, through the labelers' REST API.

    manage.py simulate_labelers PROJECT --rule RULE [--labelers 3] [--noise 0.1] [--max-tasks N] [--seed 0]

See training/services/simulation.py; the rules are training/ml/rules.py's."""
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from annotate.models import Project
from training.ml.rules import RULES_HELP
from training.services.simulation import SimulationError, labelers_simulate, simulation_check


class Command(BaseCommand):
    help = ("Let simulated labelers (accounts sim-<project id>-<n>, created and made members when missing) rank, "
            "answer or skip the project's tasks by a known rule, through the same REST calls as the browser. "
            "The rule is recorded on the project so rounds show the ground truth.")

    def add_arguments(self, parser):
        parser.add_argument("project", help="Project name.")
        parser.add_argument("--rule", required=True, help=f"The preference: {RULES_HELP}.")
        parser.add_argument("--labelers", type=int, default=3, help="How many simulated labelers (default 3).")
        parser.add_argument("--noise", type=float, default=0.1,
                            help="Share of adjacent pairs of each ranking a labeler swaps (default 0.1).")
        parser.add_argument("--max-tasks", type=int, default=None, help="Stop after this many answered tasks.")
        parser.add_argument("--seed", type=int, default=0, help="Seed of the noise.")

    def handle(self, *args, **opts):
        try:  # a malformed rule is refused before anything runs
            simulation_check(rule=opts["rule"], labelers=opts["labelers"], noise=opts["noise"],
                             max_tasks=opts["max_tasks"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages))
        project = Project.objects.filter(name=opts["project"]).first()
        if project is None:
            raise CommandError(f"No project named {opts['project']!r}.")
        try:
            report = labelers_simulate(project=project, rule=opts["rule"], labelers=opts["labelers"],
                                       noise=opts["noise"], max_tasks=opts["max_tasks"], seed=opts["seed"])
        except (ValidationError, SimulationError) as exc:
            raise CommandError(" ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc))
        self.stdout.write(report.summary())
