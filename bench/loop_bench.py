"""The loop, proven: simulated labelers with a known rule label SmolLM2's answers, rounds train on
their labels, and the rule itself measures whether the policy learned it.

    RANKLAB_DATA_DIR=/tmp/loop-bench .venv/bin/python bench/loop_bench.py --rule shorter \\
        [--method dpo] [--rounds 2] [--model /tmp/smolconv/SmolLM2-135M-Instruct]
    .venv/bin/python bench/loop_bench.py --base-rates "keyword:sure" "regex:^\\d+\\." …   # cheap rule survey

The real product end to end: a fresh SQLite data dir, one real Celery worker on the filesystem
broker, the bundled SmolLM2-135M-Instruct. Prompts come from data/seed (shuffled with a fixed
seed): --heldout of them are never put in the project (the measurement), --train-prompts get K=4
candidates from SmolLM2 through a generate job (as the Generate page starts it), and --next-prompts
are left for each round's generate step. Simulated labelers (training/services/simulation.py, the
REST API) rank them; round 1 runs with the CPU preset as the rounds page starts it; the labelers
rank round 1's new tasks; round 2 starts from round 1's policy. A held round (reward model not
learned) is continued anyway and said so. Then one answer per held-out prompt from the parent and
each round's policy (temperature 0.7, the same seeds) and the share satisfying the rule, with 95 %
Wilson intervals and Newcombe's interval of the difference to the parent. The last line:

    loop_bench rule=… method=… parent_rate=… r1_rate=… r2_rate=… r1_gain_ci_low=… rm_acc=… minutes_per_round=…
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _worker import worker_start, worker_stop  # noqa: E402  (bench/, the script's own folder)

SEED_DIR = ROOT / "data" / "seed"


def seed_prompts() -> list[str]:
    """Every single-turn instruction of data/seed, deduplicated, in a fixed shuffled order."""
    texts = []
    for line in (SEED_DIR / "self_instruct_seed_tasks.jsonl").read_text().splitlines():
        row = json.loads(line)
        inp = (row.get("instances") or [{}])[0].get("input", "")
        texts.append(row["instruction"] + (f"\n\n{inp}" if inp else ""))
    for name in ("vicuna_bench_questions.jsonl", "mt_bench_questions.jsonl"):
        texts += [json.loads(line)["turns"][0] for line in (SEED_DIR / name).read_text().splitlines()]
    unique = list(dict.fromkeys(t.strip() for t in texts if t.strip()))
    random.Random(0).shuffle(unique)
    return unique


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    if not n:
        return 0.0, 1.0
    p = successes / n
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (
        1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_diff(k1: int, n1: int, k0: int, n0: int) -> tuple[float, float]:
    """95 % interval of p1 − p0 from the two Wilson intervals (Newcombe 1998, method 10)."""
    p1, p0 = k1 / n1, k0 / n0
    l1, u1 = wilson(k1, n1)
    l0, u0 = wilson(k0, n0)
    d = p1 - p0
    return d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)


def sample(model_dir: str, prompts: list[str], *, max_new_tokens: int, seed: int = 0) -> list[str]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.services.evaluation import sample_answers

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    out = sample_answers(model, tokenizer, [[{"role": "user", "content": p}] for p in prompts],
                         max_new_tokens=max_new_tokens, temperature=0.7, seed=seed, batch_size=16)
    return [text for _, _, text in out]


def base_rates(args, prompts: list[str]) -> int:
    from training.ml.rules import parse_rule, rule_rate

    rules = [parse_rule(r) for r in args.base_rates]
    os.environ.update(DJANGO_SETTINGS_MODULE="config.settings.local",
                      RANKLAB_DATA_DIR=os.environ.get("RANKLAB_DATA_DIR", "/tmp/loop-bench-rates"))
    import django

    django.setup()  # sample() reuses the evaluate step's sampler; no database is touched
    started = time.monotonic()
    answers = sample(args.model, prompts[: args.heldout], max_new_tokens=args.max_new_tokens)
    print(f"sampled {len(answers)} answers in {time.monotonic() - started:.0f}s (temperature 0.7, "
          f"max_new_tokens {args.max_new_tokens}); uptime: {os.popen('uptime').read().strip()}")
    for rule in rules:
        rate = rule_rate(rule, answers)
        low, high = wilson(rate * len(answers), len(answers))
        print(f"base_rate rule={rule.spec} rate={rate:.3f} ci=[{low:.3f}, {high:.3f}] n={len(answers)}")
    return 0


def wait(predicate, what: str, poll: float = 2.0):
    while True:
        value = predicate()
        if value:
            return value
        time.sleep(poll)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rule", default="shorter")
    ap.add_argument("--method", default="dpo", choices=["dpo", "ppo", "rloo"])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--model", default="/tmp/smolconv/SmolLM2-135M-Instruct")
    ap.add_argument("--train-prompts", type=int, default=96)
    ap.add_argument("--next-prompts", type=int, default=32, help="Prompts left for each round's generate step.")
    ap.add_argument("--heldout", type=int, default=64)
    ap.add_argument("--labelers", type=int, default=3)
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--max-new-tokens", type=int, default=64, help="Candidates and measured answers.")
    ap.add_argument("--params", default="{}", help="Round options (JSON) over the CPU preset.")
    ap.add_argument("--demonstrations", action="store_true", help="The project collects demonstrations too: each "
                    "prompt also gets a demonstration task (SmolLM2's first candidate as the suggestion), which the "
                    "simulated labelers answer when it satisfies the rule; PPO-ptx needs them (policy_config ptx_coef).")
    ap.add_argument("--base-rates", nargs="*", help="Only measure these rules' base rates under the model.")
    ap.add_argument("--measure-existing", action="store_true", help="Keep RANKLAB_DATA_DIR's finished run and only "
                    "measure its policies again (e.g. after the run was stopped once its rounds finished).")
    ap.add_argument("--resume", action="store_true", help="Keep RANKLAB_DATA_DIR's project and its finished rounds, "
                    "label what is open and run the rounds still missing up to --rounds with this code's preset "
                    "(e.g. after the run was stopped between rounds).")
    args = ap.parse_args()

    prompts = seed_prompts()
    heldout, train = prompts[: args.heldout], prompts[args.heldout: args.heldout + args.train_prompts]
    later = prompts[args.heldout + args.train_prompts: args.heldout + args.train_prompts + args.next_prompts * args.rounds]
    if args.base_rates:
        return base_rates(args, prompts)

    data_dir = Path(os.environ.get("RANKLAB_DATA_DIR", "/tmp/loop-bench"))
    if not (args.measure_existing or args.resume):
        shutil.rmtree(data_dir, ignore_errors=True)  # a fresh SQLite database and broker each run
    os.environ.update(DJANGO_SETTINGS_MODULE="config.settings.local", RANKLAB_DATA_DIR=str(data_dir))
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)
    import django

    django.setup()
    from annotate.services.projects import project_create, prompt_create
    from jobs.models import Job
    from training.ml.rules import parse_rule
    from training.models import Round, RoundStatus
    from training.services.generation.start import generation_start
    from training.services.registry import model_register
    from training.services.simulation import labelers_simulate, project_loop_set

    rule = parse_rule(args.rule)
    if args.measure_existing or args.resume:
        rounds = list(Round.objects.filter(project__name=f"loop {rule.spec}"[:200], status=RoundStatus.SUCCEEDED)
                      .order_by("number"))
        minutes = [(r.finished_at - r.created_at).total_seconds() / 60 for r in rounds]
        if args.measure_existing:
            return measure(args, rule, heldout, rounds, minutes, data_dir)
    print(f"loop_bench: rule {rule.spec}, {args.method}, {args.rounds} rounds; {len(train)} labelled prompts, "
          f"{len(later)} for the rounds' new tasks, {len(heldout)} held out; uptime: {os.popen('uptime').read().strip()}",
          flush=True)
    if args.resume:
        return resume(args, rule, heldout, rounds, minutes, data_dir)
    project = project_create(name=f"loop {rule.spec}"[:200], k=4, gold_rate=0.0,
                             task_kinds=["ranking", "demonstration"] if args.demonstrations else ["ranking"])
    project_loop_set(project=project, rule=rule.spec)
    train_ids = [prompt_create(project=project, conversation=p, source="data/seed").pk for p in train]
    for p in later:
        prompt_create(project=project, conversation=p, source="data/seed")
    smol = model_register(name="SmolLM2-135M-Instruct", backend="transformers", location=args.model)
    project.sampling_models.add(smol)

    worker = worker_start(data_dir)
    try:
        t0 = time.monotonic()
        job = generation_start(project=project, model_versions=[smol], k=4, prompts=train_ids,
                               params={"temperature": 1.0, "max_new_tokens": args.max_new_tokens,
                                       "demonstrations": args.demonstrations})
        job = wait(lambda: (j := Job.objects.get(pk=job.pk)).is_finished and j, "candidates")
        if job.status != "succeeded":
            print(f"generation failed: {job.error}")
            return 1
        print(f"candidates: {job.result.get('created_tasks')} tasks × 4 from SmolLM2 in "
              f"{time.monotonic() - t0:.0f}s", flush=True)
        report = labelers_simulate(project=project, rule=rule.spec, labelers=args.labelers, noise=args.noise)
        print(f"labels: {report.summary()}", flush=True)

        rounds, minutes = [], []
        run_rounds(args, rule, project, smol, round_params(args), rounds, minutes)
    finally:
        worker_stop(worker)

    return measure(args, rule, heldout, rounds, minutes, data_dir)


def round_params(args) -> dict:
    from training.services.rounds.presets import cpu_friendly

    params = cpu_friendly(json.loads(args.params), args.method)
    params["generation"] = {**params["generation"], "n_prompts": args.next_prompts, "max_new_tokens": args.max_new_tokens}
    return params


def resume(args, rule, heldout: list[str], rounds: list, minutes: list[float], data_dir: Path) -> int:
    """The rounds still missing of a stopped run, with this code's preset; the open tasks are labelled first."""
    from annotate.models import Project
    from training.models import Round
    from training.services.simulation import labelers_simulate

    project = Project.objects.get(name=f"loop {rule.spec}"[:200])
    unfinished = Round.objects.filter(project=project).exclude(pk__in=[r.pk for r in rounds])
    if unfinished.exists():
        raise SystemExit(f"round {unfinished.first().number} did not finish: cancel it on its page first "
                         "(stop a run between rounds to resume it)")
    print(f"resuming after round {len(rounds)}: {[f'{m:.1f} min' for m in minutes]}", flush=True)
    worker = worker_start(data_dir)
    try:
        report = labelers_simulate(project=project, rule=rule.spec, labelers=args.labelers, noise=args.noise)
        print(f"  labels of the open tasks: {report.summary()}", flush=True)
        run_rounds(args, rule, project, None, round_params(args), rounds, minutes)
    finally:
        worker_stop(worker)
    return measure(args, rule, heldout, rounds, minutes, data_dir)


def run_rounds(args, rule, project, smol, params: dict, rounds: list, minutes: list[float]) -> None:
    """Rounds len(rounds)+1 … args.rounds, each labelled by the simulated labelers when it is done."""
    from training.models import Round, RoundStatus
    from training.services.rounds import round_continue, round_start
    from training.services.simulation import labelers_simulate

    for number in range(len(rounds) + 1, args.rounds + 1):
        started = time.monotonic()
        rnd = round_start(project=project, method=args.method, base_policy=smol if number == 1 else None,
                          params=params)
        last = None
        while True:
            rnd = Round.objects.get(pk=rnd.pk)
            state = (rnd.step, rnd.status, rnd.current_job.progress_message if rnd.current_job else "")
            if state[:2] != (last or (None, None))[:2]:
                print(f"  round {number} [{time.monotonic() - started:6.0f}s] {rnd.get_step_display()}: "
                      f"{rnd.get_status_display()}", flush=True)
            last = state
            if rnd.status == RoundStatus.HELD:
                print(f"  round {number} HELD: {rnd.error}\n  → continuing anyway", flush=True)
                rnd = round_continue(rnd=rnd)
                continue
            if rnd.status != RoundStatus.RUNNING:
                break
            time.sleep(2)
        minutes.append((time.monotonic() - started) / 60)
        if rnd.status != RoundStatus.SUCCEEDED:
            raise SystemExit(f"round {number} {rnd.status} at {rnd.step}: {rnd.error}")
        rm = rnd.reward_model.metrics
        truth = (rnd.evaluation or {}).get("ground_truth") or {}
        print(f"  round {number}: {minutes[-1]:.1f} min; RM held-out accuracy {rm.get('eval_accuracy')} on "
              f"{rm.get('eval_pairs')} pairs (labeler agreement {rm.get('labeler_agreement')}); RM-judged win "
              f"rate {rnd.evaluation.get('win_rate')}; evaluate-step ground truth new "
              f"{(truth.get('new') or {}).get('rate')} vs parent {(truth.get('parent') or {}).get('rate')}; "
              f"uptime: {os.popen('uptime').read().strip()}", flush=True)
        rounds.append(rnd)
        report = labelers_simulate(project=project, rule=rule.spec, labelers=args.labelers, noise=args.noise)
        print(f"  labels after round {number}: {report.summary()}", flush=True)


def measure(args, rule, heldout: list[str], rounds: list, minutes: list[float], data_dir: Path) -> int:
    from training.ml.rules import rule_rate
    from training.services.registry import model_local_dir

    n = len(heldout)
    counts = {}
    for label, model_dir in [("parent", args.model)] + [(f"r{r.number}", str(model_local_dir(r.policy_model)))
                                                          for r in rounds]:
        t0 = time.monotonic()
        answers = sample(model_dir, heldout, max_new_tokens=args.max_new_tokens)
        counts[label] = sum(rule.satisfied(a) for a in answers)
        (data_dir / f"answers-{label}.json").write_text(json.dumps(answers, indent=1))
        low, high = wilson(counts[label], n)
        print(f"{label}: {counts[label]}/{n} = {rule_rate(rule, answers):.3f} satisfy {rule.spec} "
              f"[{low:.3f}, {high:.3f}] (sampled in {time.monotonic() - t0:.0f}s; mean words "
              f"{sum(len(a.split()) for a in answers) / n:.1f})", flush=True)
    gains = {label: newcombe_diff(counts[label], n, counts["parent"], n) for label in counts if label != "parent"}
    for label, (low, high) in gains.items():
        print(f"{label} − parent: {(counts[label] - counts['parent']) / n:+.3f} [{low:+.3f}, {high:+.3f}]")
    rates = {label: counts[label] / n for label in counts}
    print(f"uptime: {os.popen('uptime').read().strip()}")
    print(f"loop_bench rule={rule.spec} method={args.method} parent_rate={rates['parent']:.3f} "
          f"r1_rate={rates.get('r1', float('nan')):.3f} r2_rate={rates.get('r2', float('nan')):.3f} "
          f"r1_gain_ci_low={gains.get('r1', (float('nan'),))[0]:.3f} "
          f"rm_acc={rounds[0].reward_model.metrics.get('eval_accuracy') or float('nan'):.3f} "
          f"minutes_per_round={sum(minutes) / len(minutes):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
