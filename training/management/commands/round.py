"""Rounds from the shell ("Start next round").

    manage.py round start PROJECT_NAME [--method dpo|ppo|rloo] [--base-policy NAME]
        [--queue-mode none|rm_gap|rm_uncertainty|rm_disagreement|labeler_disagreement]
        [--cpu-friendly] [--params '{"policy_config": {"beta": 0.1}, "generation": {"n_prompts": 20}}'] [--wait]
    manage.py round list PROJECT_NAME
    manage.py round show ROUND_ID
    manage.py round retry ROUND_ID [--wait]
    manage.py round continue ROUND_ID [--wait]     # a round held because its reward model has not learned
    manage.py round cancel ROUND_ID

The steps run on Celery workers (`make run` starts one); --wait polls the round and prints each step
as it starts, until the round stops."""
import json
import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from annotate.models import Project
from training.models import ModelVersion, PolicyMethod, QueueMode, Round, RoundStatus
from training.services.rounds import round_cancel, round_continue, round_retry, round_start
from training.services.rounds.presets import cpu_friendly


class Command(BaseCommand):
    help = "Start, follow, retry or cancel training rounds."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        start = sub.add_parser("start", help="Start the next round of a project.")
        start.add_argument("project")
        start.add_argument("--method", choices=PolicyMethod.values, default=PolicyMethod.DPO)
        start.add_argument("--base-policy", default="", help="Model name (default: the last round's policy).")
        start.add_argument("--queue-mode", choices=QueueMode.values, default=QueueMode.NONE)
        start.add_argument("--cpu-friendly", action="store_true", help="The start page's CPU preset.")
        start.add_argument("--params", default="{}", help="Round options as JSON.")
        start.add_argument("--wait", action="store_true")
        sub.add_parser("list", help="The rounds of a project.").add_argument("project")
        sub.add_parser("show", help="One round, as JSON.").add_argument("round_id", type=int)
        retry = sub.add_parser("retry", help="Run the failed step again and carry on.")
        retry.add_argument("round_id", type=int)
        retry.add_argument("--wait", action="store_true")
        cont = sub.add_parser("continue", help="Continue anyway: train the policy on a held round's reward model.")
        cont.add_argument("round_id", type=int)
        cont.add_argument("--wait", action="store_true")
        sub.add_parser("cancel", help="Cancel the running step.").add_argument("round_id", type=int)

    def handle(self, *args, **opts):
        try:
            getattr(self, f"_{opts['action']}")(opts)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages))

    def _project(self, name: str) -> Project:
        project = Project.objects.filter(name=name).first()
        if project is None:
            raise CommandError(f"No project named {name!r}.")
        return project

    def _round(self, pk: int) -> Round:
        rnd = Round.objects.filter(pk=pk).first()
        if rnd is None:
            raise CommandError(f"No round {pk}.")
        return rnd

    def _start(self, opts):
        project = self._project(opts["project"])
        try:
            params = json.loads(opts["params"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--params is not valid JSON: {exc.msg}.")
        if not isinstance(params, dict):
            raise CommandError("--params must be a JSON object.")
        if opts["cpu_friendly"]:
            params = cpu_friendly(params, opts["method"])
        base = None
        if opts["base_policy"]:
            base = ModelVersion.objects.filter(name=opts["base_policy"]).first()
            if base is None:
                raise CommandError(f"No model named {opts['base_policy']!r}.")
        rnd = round_start(project=project, method=opts["method"], base_policy=base, queue_mode=opts["queue_mode"],
                          params=params)
        self.stdout.write(f"round {rnd.number} of {project.name} started (id {rnd.pk}): {rnd.get_step_display()}")
        if opts["wait"]:
            self._follow(rnd)

    def _retry(self, opts):
        rnd = round_retry(rnd=self._round(opts["round_id"]))
        self.stdout.write(f"round {rnd.number}: retrying from {rnd.get_step_display()}")
        if opts["wait"]:
            self._follow(rnd)

    def _continue(self, opts):
        rnd = round_continue(rnd=self._round(opts["round_id"]))
        self.stdout.write(f"round {rnd.number}: continuing anyway from {rnd.get_step_display()}")
        if opts["wait"]:
            self._follow(rnd)

    def _cancel(self, opts):
        rnd = round_cancel(rnd=self._round(opts["round_id"]))
        self.stdout.write(f"round {rnd.number}: {rnd.get_status_display()}")

    def _list(self, opts):
        for rnd in self._project(opts["project"]).rounds.order_by("number"):
            win = rnd.evaluation.get("win_rate")
            self.stdout.write(f"{rnd.pk}\tround {rnd.number}\t{rnd.status}\t{rnd.step}\t{rnd.method}\t"
                              f"{rnd.policy_model.name if rnd.policy_model else '-'}\t"
                              f"{'-' if win is None else f'{win:.0%}'}")

    def _show(self, opts):
        from training.apis_rounds import RoundOutputSerializer

        self.stdout.write(json.dumps(RoundOutputSerializer(self._round(opts["round_id"])).data, indent=1,
                                     default=str))

    def _follow(self, rnd: Round) -> None:
        started, last = time.monotonic(), None
        while True:
            rnd.refresh_from_db()
            job = rnd.current_job
            state = (rnd.step, rnd.status, job.pk if job else None)
            if state != last:
                self.stdout.write(f"[{time.monotonic() - started:6.0f}s] {rnd.get_step_display()}: "
                                  f"{rnd.get_status_display()}{f' (job {job.pk})' if job else ''}")
                last = state
            if rnd.status != RoundStatus.RUNNING:
                break
            time.sleep(2)
        if rnd.status == RoundStatus.HELD:
            raise CommandError(f"{rnd.error} (manage.py round continue {rnd.pk} continues anyway.)")
        if rnd.error:
            raise CommandError(rnd.error)
        ev = rnd.evaluation
        if ev:
            self.stdout.write(f"win rate vs parent (reward model): {ev['win_rate']:.1%} "
                              f"[{ev['ci_low']:.1%}, {ev['ci_high']:.1%}] on {ev['prompts']} prompts; "
                              f"KL {ev['kl_from_parent']:.3f}")
        self.stdout.write(f"done in {time.monotonic() - started:.0f}s")
