"""Evaluating a new policy against its parent, judged by a reward model, on held-out prompts.

    job = evaluation_start(project=p, policy=new, parent=old, reward_model=rm, export=snapshot,
                           params={"n_prompts": 32, "max_new_tokens": 64})

The "evaluate" job samples one answer per held-out prompt (the export's test split; the train
split when the test split is empty, said so in the result) from each policy with the same seed,
scores both with the reward model and records: the new policy's win rate against the parent
(ties count half) with a Wilson 95% interval, each policy's reward distribution, and the KL of
the new policy from the parent — the reference it was trained against — estimated on its own
samples as the mean of Σ_t log π_new(y_t|·) − log π_parent(y_t|·). Runs in the worker process
(torch is imported inside the handler, never by the web process). When the project knows the rule
its labelers follow (ProjectLoop.rule, e.g. simulated labelers), the result also holds the ground
truth: the share of each policy's answers that satisfy the rule.
"""
from __future__ import annotations

from django.core.exceptions import ValidationError

from jobs.models import Job
from jobs.services import JobContext, job_create
from training.ml.evaluate import wilson_interval
from training.models import ModelKind, ModelVersion, ProjectLoop
from training.services.registry import model_local_dir

EVAL_DEFAULTS = {"n_prompts": 32, "max_new_tokens": 64, "temperature": 0.7, "seed": 0, "split": "test",
                 "rm_max_length": 512, "batch_size": 8}


def evaluation_params_clean(params: dict | None) -> dict:
    params = dict(params or {})
    unknown = set(params) - set(EVAL_DEFAULTS)
    if unknown:
        raise ValidationError(f"Unknown evaluation options: {', '.join(sorted(unknown))}.")
    out = {**EVAL_DEFAULTS, **params}
    try:
        for key in ("n_prompts", "max_new_tokens", "seed", "rm_max_length", "batch_size"):
            out[key] = int(out[key])
        out["temperature"] = float(out["temperature"])
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"Evaluation options must be numbers: {exc}")
    if out["n_prompts"] < 1 or out["max_new_tokens"] < 1 or out["batch_size"] < 1:
        raise ValidationError("n_prompts, max_new_tokens and batch_size must be at least 1.")
    if out["temperature"] < 0:
        raise ValidationError("temperature cannot be negative.")
    if out["split"] not in ("test", "train"):
        raise ValidationError("split must be 'test' or 'train'.")
    return out


def evaluation_start(*, project, policy: ModelVersion, parent: ModelVersion, reward_model: ModelVersion, export,
                     params: dict | None = None, user=None) -> Job:
    for model, kind in ((policy, ModelKind.POLICY), (parent, ModelKind.POLICY), (reward_model, ModelKind.REWARD)):
        if model.kind != kind:
            raise ValidationError(f"{model.name} is not a {ModelKind(kind).label.lower()}.")
        if model.backend == "openai":
            raise ValidationError(f"{model.name} is served over HTTP; evaluation needs local weights.")
        model_local_dir(model)
    if policy.pk == parent.pk:
        raise ValidationError("Compare a policy with another one (its parent), not with itself.")
    if export.project_id != project.pk or not export.path:
        raise ValidationError("The export snapshot must be a finished export of this project.")
    job_params = {"policy_id": policy.pk, "parent_id": parent.pk, "reward_model_id": reward_model.pk,
                  "export_id": export.pk, **evaluation_params_clean(params)}
    return job_create(kind="evaluate", project=project, params=job_params, user=user)


# ---------------------------------------------------------------- the worker side

def _held_out_prompts(path: str, split: str, n: int) -> tuple[list, str]:
    from training.ml.common import ConfigError
    from training.ml.policy_data import load_prompts

    try:
        return load_prompts(path, split, n)[0], split
    except (ConfigError, ValueError, FileNotFoundError, LookupError):
        if split == "train":
            raise
    return load_prompts(path, "train", n)[0], "train (the test split is empty)"


def _load_policy(model: ModelVersion):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = str(model_local_dir(model))
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval(), tokenizer


def sample_answers(model, tokenizer, prompts: list, *, max_new_tokens: int, temperature: float, seed: int,
                   batch_size: int = 8) -> list[tuple[list[int], list[int], str]]:
    """One answer per prompt: (prompt ids, answer ids up to and including EOS, answer text)."""
    import torch

    from training.ml.policy_data import prompt_text

    torch.manual_seed(seed)
    out = []
    for start in range(0, len(prompts), batch_size):
        texts = [prompt_text(tokenizer, p) for p in prompts[start:start + batch_size]]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            generated = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=temperature > 0,
                                       temperature=temperature if temperature > 0 else None, top_p=1.0,
                                       pad_token_id=tokenizer.pad_token_id)
        width = enc["input_ids"].shape[1]
        for row in range(len(texts)):
            prompt_ids = enc["input_ids"][row][enc["attention_mask"][row].bool()].tolist()
            answer = generated[row, width:].tolist()
            if tokenizer.eos_token_id in answer:
                answer = answer[:answer.index(tokenizer.eos_token_id) + 1]
            out.append((prompt_ids, answer, tokenizer.decode(answer, skip_special_tokens=True).strip()))
    return out


def answer_logprob(model, prompt_ids: list[int], answer_ids: list[int]) -> float:
    """Σ_t log π(answer_t | prompt, answer_<t)."""
    import torch

    if not answer_ids:
        return 0.0
    seq = torch.tensor([prompt_ids + answer_ids])
    with torch.no_grad():
        logits = model(input_ids=seq).logits[0, len(prompt_ids) - 1:-1]  # (T_answer, V)
    logp = torch.log_softmax(logits.float(), dim=-1)
    return float(logp.gather(1, torch.tensor(answer_ids)[:, None]).sum())


def ground_truth(rule_spec: str, answers: dict[str, list[str]]) -> dict:
    """{rule, <label>: {rate, n, ci_low, ci_high}} of the answers that satisfy the known rule."""
    from training.ml.rules import parse_rule, rule_rate

    rule = parse_rule(rule_spec)
    out: dict = {"rule": rule.spec}
    for label, texts in answers.items():
        rate = rule_rate(rule, texts)
        low, high = wilson_interval((rate or 0) * len(texts), len(texts))
        out[label] = {"rate": rate, "n": len(texts), "ci_low": low, "ci_high": high}
    return out


def evaluate(job: Job, ctx: JobContext) -> dict:
    """Handler of the "evaluate" job kind."""
    import torch

    from exports.models import ExportSnapshot
    from training.ml.ppo import RewardModelScorer

    torch.set_num_threads(max(1, torch.get_num_threads()))
    p = job.params
    policy, parent = ModelVersion.objects.get(pk=p["policy_id"]), ModelVersion.objects.get(pk=p["parent_id"])
    rm = ModelVersion.objects.get(pk=p["reward_model_id"])
    export = ExportSnapshot.objects.get(pk=p["export_id"])
    prompts, split = _held_out_prompts(export.path, p["split"], p["n_prompts"])
    ctx.log(f"{len(prompts)} held-out prompts from the {split} split of export v{export.version}")
    samples, models = {}, {}
    for i, (label, model) in enumerate((("new", policy), ("parent", parent))):
        ctx.progress(0.05 + 0.4 * i, f"sampling {len(prompts)} answers from {model.name}")
        models[label] = _load_policy(model)
        samples[label] = sample_answers(*models[label], prompts, max_new_tokens=p["max_new_tokens"],
                                        temperature=p["temperature"], seed=p["seed"], batch_size=p["batch_size"])
    ctx.progress(0.85, "KL of the new policy from its parent")
    kls = [answer_logprob(models["new"][0], pi, ai) - answer_logprob(models["parent"][0], pi, ai)
           for pi, ai, _ in samples["new"]]
    del models
    ctx.progress(0.92, f"scoring with {rm.name}")
    scorer = RewardModelScorer(str(model_local_dir(rm)), p["rm_max_length"], True)
    rewards = {label: scorer(prompts, [text for _, _, text in samples[label]]) for label in samples}
    wins = sum(1 for a, b in zip(rewards["new"], rewards["parent"], strict=True) if a > b)
    ties = sum(1 for a, b in zip(rewards["new"], rewards["parent"], strict=True) if a == b)
    n = len(prompts)
    rate = (wins + 0.5 * ties) / n
    low, high = wilson_interval(wins + 0.5 * ties, n)
    result = {
        "policy_id": policy.pk, "parent_id": parent.pk, "reward_model_id": rm.pk, "split": split, "prompts": n,
        "wins": wins, "ties": ties, "losses": n - wins - ties, "win_rate": rate, "ci_low": low, "ci_high": high,
        "rewards": rewards, "mean_reward": {k: sum(v) / n for k, v in rewards.items()},
        "kl_from_parent": sum(kls) / n, "kl_per_answer": kls,
        "examples": [{"prompt": str(prompts[i])[:300], "new": samples["new"][i][2][:300],
                      "parent": samples["parent"][i][2][:300], "reward_new": rewards["new"][i],
                      "reward_parent": rewards["parent"][i]} for i in range(min(3, n))],
    }
    loop = ProjectLoop.objects.filter(project=job.project_id).exclude(rule="").first()
    if loop is not None:
        truth = ground_truth(loop.rule, {label: [text for _, _, text in samples[label]] for label in samples})
        result["ground_truth"] = truth
        ctx.log(f"ground truth ({truth['rule']}): new {truth['new']['rate']:.1%}, parent {truth['parent']['rate']:.1%}")
    ctx.log(f"win rate {rate:.1%} [{low:.1%}, {high:.1%}] over {n} prompts; "
            f"mean reward {result['mean_reward']['new']:.3f} vs {result['mean_reward']['parent']:.3f}; "
            f"KL {result['kl_from_parent']:.3f}")
    ctx.set_metrics({"latest": {"win_rate": rate, "kl_from_parent": result["kl_from_parent"],
                                "mean_reward_new": result["mean_reward"]["new"],
                                "mean_reward_parent": result["mean_reward"]["parent"]}})
    return result
