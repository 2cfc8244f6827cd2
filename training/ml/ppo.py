"""PPO-ptx, InstructGPT step 3 (Ouyang et al. 2022, eq. 2), compact and readable.

    python -m training.ml.ppo --config spec.json     # spec: the PPOConfig fields as JSON

objective(φ) = E_(x,y)~π_φ [ r_θ(x, y) − β log(π_φ(y|x) / π_SFT(y|x)) ] + γ E_x~D_ptx [ log π_φ(x) ]

Each step: the policy samples answers to a batch of prompts; the reward model scores each whole
answer; the score lands on the answer's last token and a per-token KL penalty against the frozen
SFT reference on every token; a value head on the policy's last hidden state gives GAE advantages;
a few epochs of the clipped PPO objective follow, each minibatch optionally mixed with the SFT
log-likelihood of demonstrations (the "ptx" term that limits the alignment tax). TRL removed its
PPOTrainer, hence this file. Stdout carries training/ml/common.py's JSON-lines events; each
"log" has reward (mean score), kl (mean summed log π/π_SFT per answer), policy_loss, value_loss,
entropy, clip_fraction and, with γ > 0, ptx_loss. The reference is a frozen copy of the starting
model (two models in memory; fine at SmolLM2's 135M, use freeze_layers to cut optimiser state).
"""
from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from training.ml import common
from training.ml import policy_data as pdata


@dataclass
class PPOConfig:
    # model
    model_name_or_path: str = field(metadata={"help": "SFT policy directory; also the frozen KL reference."})
    reward_model_path: str = field(default="", metadata={"help": "Reward model directory "
                                   "(AutoModelForSequenceClassification, num_labels=1)."})
    freeze_layers: int = field(default=0, metadata={"help": "Freeze the embeddings and the lowest N decoder "
                               "layers (CPU-friendly); 0 trains everything."})
    use_chat_template: bool = field(default=True, metadata={"help": "Format prompts (and prompt + answer for the "
                                    "reward model) with the chat template, as the reward trainer does."})
    # data
    data_path: str = field(default="", metadata={"help": "Export snapshot directory or a file of prompts (any format)."})
    prompt_split: str = field(default="train", metadata={"help": "Split whose prompts the policy answers."})
    max_prompts: int = field(default=0, metadata={"help": "Use at most this many prompts (0: all)."})
    ptx_path: str | None = field(default=None, metadata={"help": "SFT demonstrations for the ptx term "
                                 "(default: the snapshot's sft_messages/train)."})
    snapshot_sha256: str | None = field(default=None, metadata={"help": "Export hash; default: from the manifest."})
    output_dir: str = field(default="", metadata={"help": "Checkpoints and the final model (<output_dir>/model)."})
    max_prompt_length: int = field(default=256, metadata={"help": "Prompt tokens kept (the end of longer prompts)."})
    max_new_tokens: int = field(default=64, metadata={"help": "Longest sampled answer, in tokens."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature (no top-k/top-p: PPO needs "
                               "the policy's own distribution)."})
    rm_max_length: int = field(default=512, metadata={"help": "Tokens of prompt + answer the reward model reads."})
    # training (defaults: InstructGPT appendix C.4 where it gives one, else the PPO paper)
    steps: int = field(default=256, metadata={"help": "PPO iterations (one rollout batch each)."})
    batch_size: int = field(default=16, metadata={"help": "Rollouts (prompt, answer) per step."})
    mini_batch_size: int = field(default=4, metadata={"help": "Rollouts per gradient step."})
    ppo_epochs: int = field(default=4, metadata={"help": "Passes over each rollout batch."})
    learning_rate: float = field(default=1e-5, metadata={"help": "Adam learning rate."})
    kl_coef: float = field(default=0.02, metadata={"help": "β: per-token KL penalty vs the SFT model (InstructGPT 0.02)."})
    ptx_coef: float = field(default=0.0, metadata={"help": "γ: weight of the demonstrations' log-likelihood "
                            "(InstructGPT PPO-ptx used 27.8 on pretraining data); 0 is plain PPO."})
    ptx_batch_size: int = field(default=4, metadata={"help": "Demonstrations per minibatch for the ptx term."})
    cliprange: float = field(default=0.2, metadata={"help": "ε of the clipped policy ratio."})
    cliprange_value: float = field(default=0.2, metadata={"help": "Clip range of the value update."})
    vf_coef: float = field(default=0.1, metadata={"help": "Weight of the value loss."})
    gamma: float = field(default=1.0, metadata={"help": "Discount (1: the reward is for the whole answer)."})
    lam: float = field(default=0.95, metadata={"help": "GAE λ."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm."})
    seed: int = field(default=0, metadata={"help": "Seed for prompt order and sampling."})
    save_steps: int = field(default=50, metadata={"help": "Checkpoint every N steps (0: only at the end)."})
    save_total_limit: int = field(default=1, metadata={"help": "Checkpoints kept."})
    resume: bool = field(default=True, metadata={"help": "Continue from the newest checkpoint in output_dir."})

    def validate(self) -> None:
        if self.batch_size % self.mini_batch_size:
            raise common.ConfigError("PPOConfig: batch_size must be a multiple of mini_batch_size")
        for name in ("steps", "batch_size", "mini_batch_size", "ppo_epochs", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise common.ConfigError(f"PPOConfig: {name} must be at least 1")
        if self.kl_coef < 0 or self.ptx_coef < 0:
            raise common.ConfigError("PPOConfig: kl_coef and ptx_coef cannot be negative")


# ---------------------------------------------------------------- the maths

def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    return (x - mean) * torch.rsqrt(var + 1e-8) * mask


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float):
    """Generalised advantage estimation over answer tokens; all (B, T), zero after each answer's end."""
    values = values * mask
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        next_value = values[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last = delta + gamma * lam * last
        advantages[:, t] = last
    advantages = advantages * mask
    return advantages, advantages + values


def ppo_loss(logp, old_logp, values, old_values, advantages, returns, mask, cliprange, cliprange_value):
    """The clipped surrogate (policy) and clipped value losses of PPO; all inputs (B, T)."""
    ratio = torch.exp(logp - old_logp)
    pg = torch.max(-advantages * ratio, -advantages * ratio.clamp(1 - cliprange, 1 + cliprange))
    v_clipped = old_values + (values - old_values).clamp(-cliprange_value, cliprange_value)
    vf = 0.5 * torch.max((values - returns) ** 2, (v_clipped - returns) ** 2)
    clip_fraction = masked_mean(((ratio - 1).abs() > cliprange).float(), mask)
    return masked_mean(pg, mask), masked_mean(vf, mask), clip_fraction


# ---------------------------------------------------------------- model pieces

class ValueHead(nn.Module):
    """V(s_t) from the policy's last hidden state; starts at zero so the first advantages are the rewards."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:  # (B, T, H) -> (B, T)
        return self.linear(hidden).squeeze(-1)


def forward_answer(model, value_head, seq, attn, prompt_len: int, temperature: float):
    """Log-probs, values and entropies of the answer tokens seq[:, prompt_len:]; each (B, T_answer).
    Only the answer positions go through the LM head (logits_to_keep): over a 49k vocabulary that
    is most of the cost, and the prompt's logits are never needed."""
    T = seq.shape[1] - prompt_len
    positions = (attn.cumsum(-1) - 1).clamp(min=0)  # left padding: positions count real tokens only
    out = model(input_ids=seq, attention_mask=attn, position_ids=positions, logits_to_keep=T + 1,
                output_hidden_states=value_head is not None)
    logp_all = (out.logits[:, :-1] / temperature).log_softmax(-1)  # (B, T, V): token t is predicted at t-1
    logp = torch.gather(logp_all, 2, seq[:, prompt_len:].unsqueeze(-1)).squeeze(-1)
    with torch.no_grad():  # logged, not optimised (InstructGPT has no entropy bonus)
        entropy = -(logp_all.exp() * logp_all).sum(-1)
    values = value_head(out.hidden_states[-1][:, prompt_len - 1:-1]) if value_head is not None else None
    return logp, values, entropy


def answer_mask(answer: torch.Tensor, eos_id: int) -> torch.Tensor:
    """1 on answer tokens up to and including the first EOS, 0 after."""
    is_eos = (answer == eos_id).long()
    after_eos = (is_eos.cumsum(-1) - is_eos) > 0
    return (~after_eos).float()


def demo_batch(tokenizer, demos: Sequence[list[dict]], max_length: int, use_chat_template: bool = True):
    """(ids, attention, labels, keep) for demonstrations (conversations ending with the assistant turn
    that is learnt). Left-padded, so every answer sits in the last `keep` positions and only those go
    through the LM head; labels are -100 on prompts and padding."""
    rows = []
    for msgs in demos:
        p = tokenizer(pdata.prompt_text(tokenizer, msgs[:-1], use_chat_template), add_special_tokens=False).input_ids
        c = tokenizer(msgs[-1]["content"], add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
        rows.append(((p + c)[-max_length:], ([-100] * len(p) + c)[-max_length:], min(len(c), max_length)))
    width = max(len(ids) for ids, _, _ in rows)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([[pad] * (width - len(r[0])) + r[0] for r in rows])
    labels = torch.tensor([[-100] * (width - len(r[1])) + r[1] for r in rows])
    attn = torch.tensor([[0] * (width - len(r[0])) + [1] * len(r[0]) for r in rows])
    keep = min(max(r[2] for r in rows) + 1, width)
    return ids, attn, labels, keep


def demo_nll(model, batch) -> torch.Tensor:
    """Mean negative log-likelihood of the demonstrations' answer tokens (the ptx loss is γ times this)."""
    ids, attn, labels, keep = batch
    positions = (attn.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=attn, position_ids=positions, logits_to_keep=keep).logits[:, :-1]
    targets = labels[:, ids.shape[1] - keep + 1:]  # (B, keep - 1): the tokens those logits predict
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)


class RewardModelScorer:
    """r_θ(x, y) from a reward model directory, with the reward trainer's own encoding and scoring
    (training/ml/evaluate.score_groups), so PPO sees the rewards the reward model was tested on."""

    def __init__(self, path: str, max_length: int = 512, use_chat_template: bool = True):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(path)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32).eval()
        self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.max_length, self.use_chat_template = max_length, use_chat_template

    def __call__(self, prompts: Sequence, answers: Sequence[str], answer_ids=None) -> list[float]:
        from training.ml.data import RankedGroup
        from training.ml.evaluate import score_groups

        groups = [RankedGroup(prompt=p, completions=[a], tiers=[[0]]) for p, a in zip(prompts, answers, strict=False)]
        scores = score_groups(self.model, self.tokenizer, groups, max_length=self.max_length,
                              use_chat_template=self.use_chat_template)
        return [s[0] for s in scores]


# ---------------------------------------------------------------- training loop

def train(config: PPOConfig, *, policy=None, tokenizer=None, reward_fn: Callable | None = None, prompts=None,
          demos=None, emit: Callable[[dict], None] = common.emit, check_cancel: Callable[[], None] | None = None) -> dict:
    """Run PPO(-ptx). Objects passed in (policy, tokenizer, reward_fn(prompts, answers, answer_ids),
    prompts, demos) replace what the config would load: for tests and callers that hold them."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    common.quiet_transformers()
    torch.manual_seed(config.seed)
    files = []
    common.phase("loading the policy", emit)
    if policy is None:
        policy = AutoModelForCausalLM.from_pretrained(config.model_name_or_path, dtype=torch.float32)
    tokenizer = tokenizer or AutoTokenizer.from_pretrained(config.model_name_or_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if prompts is None:
        prompts, source = pdata.load_prompts(config.data_path, config.prompt_split, config.max_prompts or None)
        files.append(source)
    if demos is None and config.ptx_coef > 0:
        demos, source = pdata.load_demonstrations(config.ptx_path or config.data_path)
        files.append(source)
    if config.ptx_coef > 0 and not demos:
        raise common.ConfigError("ptx_coef > 0 needs demonstrations: an sft_messages export or ptx_path")
    if reward_fn is None:
        if not config.reward_model_path:
            raise common.ConfigError("PPOConfig: reward_model_path is required to score the policy's answers")
        common.phase("loading the reward model", emit)
        reward_fn = RewardModelScorer(config.reward_model_path, config.rm_max_length, config.use_chat_template)
    snapshot = config.snapshot_sha256 or (common.snapshot_sha256(config.data_path, files) if files else "")

    reference = copy.deepcopy(policy).eval().requires_grad_(False)  # π_SFT, frozen
    pdata.freeze_lower_layers(policy, config.freeze_layers)
    policy.eval()  # no dropout: old and new log-probs must come from the same function
    value_head = ValueHead(policy.config.hidden_size)
    params = [p for p in policy.parameters() if p.requires_grad] + list(value_head.parameters())
    optimizer = torch.optim.Adam(params, lr=config.learning_rate, eps=1e-5)
    out = Path(config.output_dir) if config.output_dir else None
    start, history = 0, {}
    checkpoint = common.latest_checkpoint(out, snapshot) if out and config.resume else None
    if checkpoint is not None:
        state = torch.load(checkpoint / "state.pt", map_location="cpu", weights_only=False)
        policy.load_state_dict(state["policy"])
        value_head.load_state_dict(state["value_head"])
        optimizer.load_state_dict(state["optimizer"])
        start, history = state["step"], state["history"]
        print(f"resumed from {checkpoint}", file=sys.stderr)
    common.phase(f"encoding {len(prompts)} prompts", emit)
    texts = [pdata.prompt_text(tokenizer, p, config.use_chat_template) for p in prompts]
    emit({"event": "start", "total_steps": config.steps, "resumed_from_step": start})
    eos = tokenizer.eos_token_id
    record: dict = {}
    started = time.perf_counter()

    for step in range(start, config.steps):
        if check_cancel:
            check_cancel()
        t0, c0 = time.perf_counter(), time.process_time()
        torch.manual_seed(config.seed * 100_003 + step)  # a resumed run samples what it would have
        idx = torch.randint(len(prompts), (config.batch_size,)).tolist()

        # 1. rollout: sample answers, score them, and keep π_old, π_ref and V_old of every answer token
        tokenizer.padding_side = "left"
        enc = tokenizer([texts[i] for i in idx], return_tensors="pt", padding=True, truncation=True,
                        max_length=config.max_prompt_length, add_special_tokens=False)
        P = enc.input_ids.shape[1]
        with torch.no_grad():
            seq = policy.generate(**enc, do_sample=True, temperature=config.temperature, top_k=0, top_p=1.0,
                                  max_new_tokens=config.max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                  eos_token_id=eos)  # (B, P + T)
            answer = seq[:, P:]
            mask = answer_mask(answer, eos)  # (B, T)
            attn = torch.cat([enc.attention_mask, mask.long()], dim=1)
            old_logp, old_values, _ = forward_answer(policy, value_head, seq, attn, P, config.temperature)
            ref_logp, _, _ = forward_answer(reference, None, seq, attn, P, config.temperature)
            answer_ids = [a[m.bool()].tolist() for a, m in zip(answer, mask, strict=False)]
            answers = tokenizer.batch_decode(answer_ids, skip_special_tokens=True)
            scores = torch.as_tensor(reward_fn([prompts[i] for i in idx], answers, answer_ids), dtype=torch.float32)
            kl = (old_logp - ref_logp) * mask  # (B, T): log π_old/π_SFT of each sampled token
            rewards = -config.kl_coef * kl
            last = (mask.sum(1).long() - 1).clamp(min=0)
            rewards[torch.arange(len(idx)), last] += scores
            advantages, returns = gae(rewards, old_values, mask, config.gamma, config.lam)
            advantages = masked_whiten(advantages, mask)

        # 2. optimise: a few epochs of clipped PPO (+ γ · demonstration NLL) over minibatches
        stats = {"policy_loss": [], "value_loss": [], "entropy": [], "clip_fraction": [], "ptx_loss": []}
        for _ in range(config.ppo_epochs):
            for mb in torch.randperm(len(idx)).split(config.mini_batch_size):
                logp, values, entropy = forward_answer(policy, value_head, seq[mb], attn[mb], P, config.temperature)
                pg, vf, clip = ppo_loss(logp, old_logp[mb], values, old_values[mb], advantages[mb], returns[mb],
                                        mask[mb], config.cliprange, config.cliprange_value)
                loss = pg + config.vf_coef * vf
                if config.ptx_coef > 0:
                    pick = torch.randint(len(demos), (config.ptx_batch_size,)).tolist()
                    ptx = demo_nll(policy, demo_batch(tokenizer, [demos[i] for i in pick], config.max_prompt_length
                                                      + config.max_new_tokens, config.use_chat_template))
                    loss = loss + config.ptx_coef * ptx
                    stats["ptx_loss"].append(ptx.item())
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
                optimizer.step()
                stats["policy_loss"].append(pg.item())
                stats["value_loss"].append(vf.item())
                stats["clip_fraction"].append(clip.item())
                stats["entropy"].append(masked_mean(entropy.detach(), mask[mb]).item())

        record = {"reward": scores.mean().item(), "kl": kl.sum(1).mean().item(),
                  **{k: sum(v) / len(v) for k, v in stats.items() if v},
                  "answer_length": mask.sum(1).mean().item(), "step_seconds": time.perf_counter() - t0,
                  "step_cpu_seconds": time.process_time() - c0}
        for key in ("reward", "kl", "policy_loss", "value_loss", "entropy", "ptx_loss"):
            if key in record:
                history.setdefault(key, []).append([step + 1, record[key]])
        emit({"event": "log", "step": step + 1, "progress": (step + 1) / config.steps, **record})
        if out and ((config.save_steps and (step + 1) % config.save_steps == 0) or step + 1 == config.steps):
            _save_checkpoint(config, out, snapshot, step + 1, history, policy, value_head, optimizer)
            emit({"event": "checkpoint", "step": step + 1, "path": str(common.checkpoint_dirs(out)[-1])})

    final = {"steps": config.steps, "train_seconds": time.perf_counter() - started, "history": history,
             **{f"final_{k}": v for k, v in record.items()}}
    model_dir = None
    if out:
        meta = {"config": common.config_to_dict(config), "snapshot_sha256": snapshot, "step": config.steps,
                "metrics": final, "kind": "policy", "method": "ppo"}
        model_dir = pdata.save_policy(policy, tokenizer, out, meta)
        torch.save(value_head.state_dict(), model_dir / "value_head.pt")
    emit({"event": "done", "progress": 1.0, "model_dir": str(model_dir) if model_dir else None, "metrics": final})
    return final


def _save_checkpoint(config, out: Path, snapshot, step, history, policy, value_head, optimizer) -> None:
    target = out / "checkpoints" / f"{common.CHECKPOINT_PREFIX}{step:07d}"
    tmp = common.atomic_dir(target)
    torch.save({"policy": policy.state_dict(), "value_head": value_head.state_dict(),
                "optimizer": optimizer.state_dict(), "step": step, "history": history}, tmp / "state.pt")
    common.write_meta(tmp, config=config, snapshot=snapshot, step=step)
    common.commit_dir(tmp, target)
    common.prune_checkpoints(out, config.save_total_limit)


def main(argv: list[str] | None = None) -> int:
    return common.cli_main(PPOConfig, train, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
