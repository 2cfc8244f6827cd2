"""Batched sampling from a local transformers model: K answers per prompt, fast on a CPU.

    gen = LocalGenerator("/path/to/SmolLM2-135M-Instruct")
    cfg = SamplingConfig(temperature=0.9, top_p=0.95, max_new_tokens=96)
    for i, samples in gen.sample([[{"role": "user", "content": "Hi!"}]], seeds=[[1, 2, 3, 4]], config=cfg):
        print(i, [s.text for s in samples])

How it is fast (bench/generation_bench.py measures it against one `generate` call per sample):
prompts are sorted by length and packed into batches of at most `max_batch_rows` rows, left
padded; each prompt is prefilled once and its KV cache repeated for its K samples; every step
forwards one token per live row; rows that reach end-of-turn leave the batch (and the cache).

Each sample has its own seed and its own torch.Generator, so a candidate can be drawn again
alone from its recorded seed (up to float rounding across batch shapes). No Django here.
"""
from __future__ import annotations

import gc
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

TOP_P_FAST_K = 512  # top-p is exact: rows whose top 512 tokens hold < top_p of the mass fall back to a full sort


@dataclass
class SamplingConfig:
    # sampling (InstructGPT samples its comparison candidates at temperature 1)
    temperature: float = field(default=1.0, metadata={"help": "0 = greedy"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling mass, (0, 1]"})
    max_new_tokens: int = field(default=256, metadata={"help": "answer length cap, in tokens"})
    # runtime
    max_batch_rows: int = field(default=64, metadata={"help": "sequences decoded together (memory bound)"})

    def validate(self) -> None:
        if not 0 <= self.temperature <= 5:
            raise ValueError(f"temperature must be in [0, 5], got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if not 1 <= self.max_new_tokens <= 8192:
            raise ValueError(f"max_new_tokens must be in [1, 8192], got {self.max_new_tokens}")
        if self.max_batch_rows < 1:
            raise ValueError("max_batch_rows must be at least 1")

    def recorded(self) -> dict:
        """What a candidate records about how it was sampled."""
        d = asdict(self)
        d.pop("max_batch_rows")
        return d


def storable_text(text: str) -> str:
    """Model output as text a database can keep: NUL characters, which a random or broken model
    can emit and PostgreSQL refuses in text and JSON, become U+FFFD (the replacement character)."""
    return text.replace("\x00", "\ufffd")


@dataclass
class Sample:
    text: str
    seed: int
    new_tokens: int
    finish_reason: str  # "stop" (end of turn) or "length" (max_new_tokens reached)

    def __post_init__(self):
        self.text = storable_text(self.text)


def sample_tokens(logits, uniforms, temperature: float, top_p: float):
    """One token per row by inverse-CDF sampling with the given uniforms in [0, 1).
    logits: [R, V] float; uniforms: [R]. Returns [R] token ids."""
    import torch

    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)  # [R, V]
    if top_p >= 1.0:
        cdf = probs.cumsum(dim=-1)  # [R, V]
        target = (uniforms * cdf[:, -1]).unsqueeze(1)
        return torch.searchsorted(cdf, target).squeeze(1).clamp_(max=probs.shape[1] - 1)
    k = min(TOP_P_FAST_K, probs.shape[1])
    top_probs, top_ids = probs.topk(k, dim=-1)  # [R, k], sorted descending
    short = top_probs.sum(dim=-1) < top_p
    if bool(short.any()):  # rare: the nucleus is wider than k tokens
        full_probs, full_ids = probs[short].sort(dim=-1, descending=True)
        out = torch.empty(probs.shape[0], dtype=torch.long)
        out[~short] = _nucleus(top_probs[~short], top_ids[~short], uniforms[~short], top_p)
        out[short] = _nucleus(full_probs, full_ids, uniforms[short], top_p)
        return out
    return _nucleus(top_probs, top_ids, uniforms, top_p)


def _nucleus(sorted_probs, sorted_ids, uniforms, top_p: float):
    import torch

    cum = sorted_probs.cumsum(dim=-1)
    keep = (cum - sorted_probs) < top_p  # the token that crosses top_p stays (as in transformers)
    kept = sorted_probs * keep
    cdf = kept.cumsum(dim=-1)
    target = (uniforms * cdf[:, -1]).unsqueeze(1)
    pos = torch.searchsorted(cdf, target).clamp_(max=sorted_probs.shape[1] - 1)  # [R, 1]
    return sorted_ids.gather(1, pos).squeeze(1)


class LocalGenerator:
    """A model and its tokenizer, loaded once; `sample` may be called for many jobs."""

    def __init__(self, model_dir: str | Path, tokenizer_dir: str | Path | None = None, device: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_dir = str(model_dir)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        self.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir or model_dir))
        self.model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=dtype).to(self.device).eval()
        self.stop_ids = self._stop_ids()
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else min(self.stop_ids)
        self.nbytes = sum(p.numel() * p.element_size() for p in self.model.parameters())
        self.lock = threading.RLock()  # one sampling thread per loaded model (re-entrant: re-sampling runs between batches)

    def _stop_ids(self) -> set[int]:
        ids = set()
        eos = self.model.generation_config.eos_token_id
        ids.update(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        for token in ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"):
            tid = self.tokenizer.convert_tokens_to_ids(token)
            if isinstance(tid, int) and tid != self.tokenizer.unk_token_id and tid >= 0:
                ids.add(tid)
        if not ids:
            raise ValueError(f"{self.model_dir}: the tokenizer defines no end-of-sequence token")
        return ids

    def encode(self, conversation: list[dict]) -> list[int]:
        """Token ids of the conversation with the chat template, ending where the assistant speaks."""
        if self.tokenizer.chat_template:
            text = self.tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
        else:
            text = "".join(f"{m['role']}: {m['content']}\n" for m in conversation) + "assistant:"
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def sample(self, conversations: list[list[dict]], seeds: list[list[int]], config: SamplingConfig,
               on_step: Callable[[], None] | None = None,
               on_text: Callable[[int, int, str], None] | None = None) -> Iterator[tuple[int, list[Sample]]]:
        """Yield (conversation index, its samples, one per seed) as each batch finishes.
        on_step() runs after every decoding step (raise from it to stop, e.g. on cancel);
        on_text(conversation index, sample index, text so far) streams partial answers."""
        config.validate()
        if len(seeds) != len(conversations):
            raise ValueError("one list of seeds per conversation")
        encoded = [self.encode(c) for c in conversations]
        order = sorted((i for i in range(len(encoded)) if seeds[i]), key=lambda i: len(encoded[i]))
        batch: list[int] = []
        rows = 0
        with self.lock:
            for i in order:
                k = len(seeds[i])
                if batch and rows + k > config.max_batch_rows:
                    yield from self._run_batch(batch, encoded, seeds, config, on_step, on_text)
                    batch, rows = [], 0
                batch.append(i)
                rows += k
            if batch:
                yield from self._run_batch(batch, encoded, seeds, config, on_step, on_text)

    def _run_batch(self, batch, encoded, seeds, config, on_step, on_text):
        import torch
        from transformers import DynamicCache

        dev = self.device
        lengths = [len(encoded[i]) for i in batch]
        width = max(lengths)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, i in enumerate(batch):  # left padding: every prompt ends at the last column
            ids[r, width - lengths[r]:] = torch.tensor(encoded[i])
            mask[r, width - lengths[r]:] = 1
        positions = (mask.cumsum(-1) - 1).clamp_(min=0)
        cache = DynamicCache()
        with torch.inference_mode():
            out = self.model(input_ids=ids.to(dev), attention_mask=mask.to(dev), position_ids=positions.to(dev),
                             cache=cache, use_cache=True, logits_to_keep=1)
            # One row per sample: repeat each prompt's cache and last logits K times.
            owner = [(r, s) for r, i in enumerate(batch) for s in range(len(seeds[i]))]  # (batch row, sample)
            expand = torch.tensor([r for r, _ in owner], device=dev)
            cache.batch_select_indices(expand)
            logits = out.logits[:, -1, :].index_select(0, expand)  # [R, V]
            mask = mask.to(dev).index_select(0, expand)  # [R, T]
            next_pos = positions[:, -1].to(dev).index_select(0, expand) + 1  # [R]
            gens = [torch.Generator().manual_seed(int(seeds[batch[r]][s])) for r, s in owner]
            tokens: list[list[int]] = [[] for _ in owner]
            finish = ["length"] * len(owner)
            live = list(range(len(owner)))  # indices into owner, aligned with the cache rows
            for step in range(config.max_new_tokens):
                u = torch.cat([torch.rand(1, generator=gens[j]) for j in live])
                chosen = sample_tokens(logits.float().cpu(), u, config.temperature, config.top_p).tolist()
                keep = []
                for pos, (j, tok) in enumerate(zip(live, chosen, strict=True)):
                    if tok in self.stop_ids:
                        finish[j] = "stop"
                    else:
                        tokens[j].append(tok)
                        keep.append(pos)
                        if on_text:
                            r, s = owner[j]
                            on_text(batch[r], s, storable_text(
                                self.tokenizer.decode(tokens[j], skip_special_tokens=True)))
                if on_step:
                    on_step()
                if not keep or step == config.max_new_tokens - 1:
                    break
                if len(keep) < len(live):  # finished rows leave the batch and the cache
                    idx = torch.tensor(keep, device=dev)
                    cache.batch_select_indices(idx)
                    mask, next_pos = mask.index_select(0, idx), next_pos.index_select(0, idx)
                    chosen = [chosen[p] for p in keep]
                    live = [live[p] for p in keep]
                mask = torch.cat([mask, mask.new_ones((len(live), 1))], dim=1)
                out = self.model(input_ids=torch.tensor(chosen, device=dev).unsqueeze(1), attention_mask=mask,
                                 position_ids=next_pos.unsqueeze(1), cache=cache, use_cache=True)
                logits = out.logits[:, -1, :]
                next_pos = next_pos + 1
        del cache
        results: dict[int, list[Sample]] = {i: [] for i in batch}
        for j, (r, s) in enumerate(owner):
            i = batch[r]
            text = self.tokenizer.decode(tokens[j], skip_special_tokens=True).strip()
            results[i].append(Sample(text=text, seed=int(seeds[i][s]), new_tokens=len(tokens[j]), finish_reason=finish[j]))
        yield from results.items()


# --- one copy of each model per worker process -------------------------------------------
_LOADED: OrderedDict[tuple, LocalGenerator] = OrderedDict()
_LOADED_LOCK = threading.Lock()


def _fingerprint(model_dir: Path) -> tuple:
    weights = sorted(model_dir.glob("*.safetensors")) or sorted(model_dir.glob("*.bin"))
    return (str(model_dir.resolve()),) + tuple((w.name, w.stat().st_mtime_ns, w.stat().st_size) for w in weights)


def generator_get(model_dir: str | Path, *, max_bytes: int, tokenizer_dir: str | Path | None = None) -> LocalGenerator:
    """The process's loaded copy of the model (loading it on first use). Least recently
    used models are dropped so the loaded weights stay under max_bytes (the newest always
    stays, even if alone it is larger). A directory rewritten in place is loaded afresh."""
    key = _fingerprint(Path(model_dir)) + (str(tokenizer_dir or ""),)
    with _LOADED_LOCK:
        if key in _LOADED:
            _LOADED.move_to_end(key)
            return _LOADED[key]
        gen = LocalGenerator(model_dir, tokenizer_dir=tokenizer_dir)
        _LOADED[key] = gen
        while len(_LOADED) > 1 and sum(g.nbytes for g in _LOADED.values()) > max_bytes:
            _LOADED.popitem(last=False)
            gc.collect()
        return gen


def loaded_models() -> list[str]:
    """Directories of the models this process holds, least recently used first."""
    return [g.model_dir for g in _LOADED.values()]


def throttle(fn: Callable[[], None], every_s: float) -> Callable[[], None]:
    """fn, called at most every `every_s` seconds (e.g. a database check for cancel)."""
    last = [0.0]

    def call():
        now = time.monotonic()
        if now - last[0] >= every_s:
            last[0] = now
            fn()

    return call
