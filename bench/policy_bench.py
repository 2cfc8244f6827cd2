"""Policy optimisation speed (PPO, PPO-ptx, RLOO) and, opt-in, the RM-judged win rate of DPO on SmolLM2.

    .venv/bin/python bench/policy_bench.py [--steps 3 --rounds 3]   # steps/s on the tiny model (~5 min on 2 cores)
    .venv/bin/python bench/policy_bench.py --winrate [--rm-pairs 160 --pairs 96 --eval-prompts 48]   # SmolLM2, tens of minutes

Speed: the same tiny random Llama (SmolLM2's shape at hidden 64, 2 layers; the bundled tokenizer),
the same 8 chat-formatted prompts per step from the Vicuna questions, 16 sampled tokens per answer
(random models rarely stop early, so every method generates the same number of tokens), a tiny
reward model. Baseline measured in the same run: one supervised step (forward + backward + Adam) on
8 prompt + answer sequences of that length. PPO does 4 epochs × 2 minibatches per rollout batch
(InstructGPT's setup in miniature); RLOO samples k = 4 answers for each of 2 prompts and takes one
optimiser step. Methods run in interleaved rounds (each round: a warm-up step, then --steps timed
steps per method); reports median wall and CPU seconds per step (CPU time is the steadier figure
when other processes share the cores), steps/s and the ratios to the SFT step.

Win rate (--winrate): SmolLM2-135M-Instruct (the converted copy in --smol) is the parent. A reward
model (training/ml/reward.py, lower 26 of 30 layers frozen) is trained on HH-RLHF pairs; the policy is
trained with DPO (lower 26 layers frozen) on other HH-RLHF pairs; both answer held-out HH prompts
(single-turn, sampled at temperature 0.7, up to 48 new tokens) and the reward model judges each pair.
Prints the win rate with a 95 % Wilson interval (ties count half).
"""
from __future__ import annotations

import argparse
import gzip
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
SMOL = Path("/tmp/smolconv/SmolLM2-135M-Instruct")


def vicuna_prompts(n: int) -> list[list[dict]]:
    rows = [json.loads(line) for line in (DATA / "vicuna_bench_questions.jsonl").read_text().splitlines() if line]
    return [[{"role": "user", "content": r["turns"][0]}] for r in rows[:n]]


# ---------------------------------------------------------------- speed
def speed(steps: int, rounds: int) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, LlamaConfig

    from training.ml import ppo, rloo
    from training.ml.bundled import load_tokenizer, tiny_random_model

    torch.set_num_threads(2)
    tok = load_tokenizer()
    tmp = Path(tempfile.mkdtemp(prefix="policy-bench-"))
    policy = tiny_random_model(len(tok), hidden=64, layers=2, heads=2, seed=0)
    policy.save_pretrained(tmp / "policy")
    tok.save_pretrained(tmp / "policy")
    torch.manual_seed(1)
    rm = AutoModelForSequenceClassification.from_config(LlamaConfig(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, num_labels=1, pad_token_id=tok.pad_token_id))
    rm.save_pretrained(tmp / "rm")
    tok.save_pretrained(tmp / "rm")
    prompts = vicuna_prompts(16)
    demos = [p + [{"role": "assistant", "content": "Sure, here is a short answer."}] for p in prompts]
    model = tiny_random_model(len(tok), hidden=64, layers=2, heads=2, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)
    long_demos = [p + [{"role": "assistant", "content": " ".join(["word"] * 16)}] for p in prompts[:8]]
    batch = ppo.demo_batch(tok, long_demos, 512)

    def sft_steps(n):  # baseline: one supervised step on 8 sequences as long as a rollout
        times = []
        for _ in range(n):
            t0, c0 = time.perf_counter(), time.process_time()
            loss = ppo.demo_nll(model, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            times.append((time.perf_counter() - t0, time.process_time() - c0))
        return times

    def ppo_steps(n, gamma):
        config = ppo.PPOConfig(model_name_or_path=str(tmp / "policy"), reward_model_path=str(tmp / "rm"),
                               steps=n, batch_size=8, mini_batch_size=4, ppo_epochs=4, max_new_tokens=16,
                               learning_rate=1e-5, ptx_coef=gamma, ptx_batch_size=4)
        events = []
        ppo.train(config, prompts=prompts, demos=demos, emit=events.append)
        return [(e["step_seconds"], e["step_cpu_seconds"]) for e in events if e["event"] == "log"]

    def rloo_steps(n):
        stamps = []
        config = rloo.RLOOConfig(model_name_or_path=str(tmp / "policy"), reward_model_path=str(tmp / "rm"),
                                 max_steps=n, batch_size=8, num_generations=4, max_completion_length=16,
                                 learning_rate=1e-5)
        rloo.train(config, prompts=prompts,
                   emit=lambda e: e["event"] == "log" and stamps.append((time.perf_counter(), time.process_time())))
        # step 1 has no start stamp: a placeholder stands for it and is dropped as the warm-up
        return [(math.nan, math.nan)] + [(b[0] - a[0], b[1] - a[1]) for a, b in zip(stamps, stamps[1:], strict=False)]

    methods = {"SFT step (baseline)": sft_steps, "PPO": lambda n: ppo_steps(n, 0.0),
               "PPO-ptx (γ=1)": lambda n: ppo_steps(n, 1.0), "RLOO (k=4)": rloo_steps}
    samples = {name: [] for name in methods}
    for _ in range(rounds):  # interleaved, so drifting machine load hits every method alike
        for name, run in methods.items():
            samples[name] += run(steps + 1)[1:]  # the first step warms up
    results = {name: statistics.median(t[0] for t in times) for name, times in samples.items()}
    cpu = {name: statistics.median(t[1] for t in times) for name, times in samples.items()}

    base, cbase = results["SFT step (baseline)"], cpu["SFT step (baseline)"]
    print(f"{'method':<22}{'s/step':>9}{'steps/s':>10}{'answers/s':>11}{'× SFT (wall)':>14}{'CPU s/step':>12}"
          f"{'× SFT (CPU)':>13}")
    for name, seconds in results.items():
        print(f"{name:<22}{seconds:>9.3f}{1 / seconds:>10.2f}{8 / seconds:>11.1f}{seconds / base:>14.1f}"
              f"{cpu[name]:>12.3f}{cpu[name] / cbase:>13.1f}")
    print(f"policy_bench speed ppo={1 / results['PPO']:.2f} ppo_ptx={1 / results['PPO-ptx (γ=1)']:.2f} "
          f"rloo={1 / results['RLOO (k=4)']:.2f} steps/s (wall); per CPU-second: ppo={1 / cpu['PPO']:.2f} "
          f"ppo_ptx={1 / cpu['PPO-ptx (γ=1)']:.2f} rloo={1 / cpu['RLOO (k=4)']:.2f}")


# ---------------------------------------------------------------- win rate
def hh_rows() -> list[dict]:
    with gzip.open(DATA / "hh_rlhf_harmless_base_dev.jsonl.gz", "rt") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def winrate(args) -> None:
    import random

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.ml import dpo, reward
    from training.ml.data import hh_to_group
    from training.ml.evaluate import wilson_interval
    from training.ml.ppo import RewardModelScorer

    torch.set_num_threads(2)
    tok = AutoTokenizer.from_pretrained(args.smol)
    short = []
    for i, row in enumerate(hh_rows()):  # single-turn conversations that fit the CPU budget
        group = hh_to_group(row, i)
        n = len(tok.apply_chat_template(group.prompt + [{"role": "assistant", "content": group.completions[0]}]))
        if len(group.prompt) == 1 and n <= args.max_length and group.completions[0] != group.completions[1]:
            short.append(group)
    random.Random(0).shuffle(short)
    need = args.rm_pairs + args.pairs + args.eval_prompts
    if len(short) < need:
        raise SystemExit(f"only {len(short)} short single-turn HH rows, {need} needed")
    rm_groups, dpo_groups = short[: args.rm_pairs], short[args.rm_pairs: args.rm_pairs + args.pairs]
    eval_groups = short[args.rm_pairs + args.pairs: need]
    work = Path(args.workdir)
    for name, groups in (("rm-data", rm_groups), ("dpo-data", dpo_groups), ("eval-data", eval_groups)):
        (work / name / "ranked_groups").mkdir(parents=True, exist_ok=True)
        (work / name / "ranked_groups" / "train.jsonl").write_text("".join(json.dumps(
            {"prompt": g.prompt, "completions": g.completions, "tiers": g.tiers}) + "\n" for g in groups))
    # the judge's own held-out accuracy, on the evaluation prompts' human labels
    (work / "rm-data" / "ranked_groups" / "test.jsonl").write_text(
        (work / "eval-data" / "ranked_groups" / "train.jsonl").read_text())
    print(f"HH short single-turn rows: {len(short)}; RM {len(rm_groups)}, DPO {len(dpo_groups)}, "
          f"eval {len(eval_groups)}", file=sys.stderr)

    t0 = time.time()
    rm_out = work / "rm"
    if not (rm_out / "model").exists():
        reward.train(reward.RewardConfig(model_name_or_path=str(args.smol), data_path=str(work / "rm-data"),
                                         output_dir=str(rm_out), freeze_layers=26, max_length=args.max_length,
                                         batch_size=8, learning_rate=1e-4, save_steps=0, logging_steps=5))
    rm_seconds = time.time() - t0
    t0 = time.time()
    dpo_out = work / "dpo"
    if not (dpo_out / "model").exists():
        dpo.train(dpo.DPOConfig(model_name_or_path=str(args.smol), data_path=str(work / "dpo-data"),
                                output_dir=str(dpo_out), freeze_layers=26, max_length=args.max_length,
                                batch_size=4, learning_rate=args.lr, beta=0.1, epochs=1, save_steps=8))
    dpo_seconds = time.time() - t0

    t0 = time.time()
    judge = RewardModelScorer(str(rm_out / "model"), max_length=args.max_length + 64)
    prompts = [g.prompt for g in eval_groups]
    answers = {}
    for name, path in (("parent", args.smol), ("dpo", dpo_out / "model")):
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        tok.padding_side = "left"
        outs = []
        for start in range(0, len(prompts), 8):
            chunk = prompts[start: start + 8]
            texts = [tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in chunk]
            enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            torch.manual_seed(1000 + start)
            with torch.no_grad():
                seq = model.generate(**enc, do_sample=True, temperature=0.7, top_p=1.0, top_k=0,
                                     max_new_tokens=48, pad_token_id=tok.pad_token_id)
            outs += tok.batch_decode(seq[:, enc.input_ids.shape[1]:], skip_special_tokens=True)
        answers[name] = outs
    r_parent = judge(prompts, answers["parent"])
    r_dpo = judge(prompts, answers["dpo"])
    gen_seconds = time.time() - t0
    wins = sum(1.0 if b > a else 0.5 if b == a else 0.0 for a, b in zip(r_parent, r_dpo, strict=True))
    lo, hi = wilson_interval(wins, len(prompts))
    rm_meta = json.loads((rm_out / "model" / "ranklab.json").read_text())["metrics"]
    print(f"reward model: {len(rm_groups)} HH pairs, train {rm_seconds:.0f} s, "
          f"held-out accuracy {rm_meta.get('eval_accuracy', 'n/a')}")
    print(f"DPO: {len(dpo_groups)} HH pairs, lr {args.lr}, {dpo_seconds:.0f} s")
    print(f"mean RM reward: parent {statistics.mean(r_parent):.3f}, DPO {statistics.mean(r_dpo):.3f}; "
          f"generation + judging {gen_seconds:.0f} s")
    print(f"policy_bench winrate dpo_vs_parent={wins / len(prompts):.3f} ci95=[{lo:.3f},{hi:.3f}] n={len(prompts)}")
    (work / "answers.json").write_text(json.dumps({"prompts": prompts, **answers, "r_parent": r_parent,
                                                   "r_dpo": r_dpo}, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="measured steps per method and round (after a warm-up)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds over the methods")
    parser.add_argument("--winrate", action="store_true", help="run the SmolLM2 DPO win-rate measurement instead")
    parser.add_argument("--smol", default=str(SMOL), help="converted SmolLM2-135M-Instruct directory")
    parser.add_argument("--rm-pairs", type=int, default=160)
    parser.add_argument("--pairs", type=int, default=96)
    parser.add_argument("--eval-prompts", type=int, default=48)
    parser.add_argument("--max-length", type=int, default=160)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "policy-bench-winrate"))
    args = parser.parse_args()
    winrate(args) if args.winrate else speed(args.steps, args.rounds)


if __name__ == "__main__":
    main()
