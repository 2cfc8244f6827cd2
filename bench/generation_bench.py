"""Candidate sampling speed on the bundled SmolLM2-135M-Instruct (CPU by default).

    .venv/bin/python bench/generation_bench.py [--model-dir /tmp/smolconv/SmolLM2-135M-Instruct] [--threads 2]
    python bench/generation_bench.py --device cuda --model-dir DIR [--prompts 64 --max-new-tokens 128]

(on cuda the model runs in bf16, as LocalGenerator loads it there; llama.cpp stays on the CPU
and is skipped when llama-cpp-python or the bundled GGUF is missing)

Three ways to write K=4 answers of up to 64 new tokens to 16 real prompts (Vicuna bench):
  ranklab  training.ml.generate.LocalGenerator: one batch of 64 rows, prompts prefilled once
           and their KV cache repeated K times, finished rows dropped from the batch;
  naive    one `model.generate(do_sample=True)` call per sample (measured on --naive-samples
           of the 64 samples: tokens/s is a rate, so a subset measures it);
  llamacpp llama-cpp-python on the same GGUF, one stream, --threads threads (also a subset).
All three sample at temperature 0.9, top_p 0.95 and stop at end of turn; tokens are the new
tokens actually produced. The last line is the machine-readable summary:

    generation_bench tokens_per_s=… naive_tokens_per_s=… ratio=… llamacpp_tokens_per_s=…
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from training.ml.bundled import convert, gguf_path  # noqa: E402
from training.ml.generate import LocalGenerator, SamplingConfig  # noqa: E402

TEMPERATURE, TOP_P = 0.9, 0.95


def prompts(n: int) -> list[list[dict]]:
    rows = [json.loads(line) for line in open(ROOT / "data" / "seed" / "vicuna_bench_questions.jsonl")]
    return [[{"role": "user", "content": r["turns"][0]}] for r in rows[:n]]


def bench_ranklab(gen: LocalGenerator, convs, k: int, max_new: int) -> tuple[int, float, list[str]]:
    cfg = SamplingConfig(temperature=TEMPERATURE, top_p=TOP_P, max_new_tokens=max_new, max_batch_rows=len(convs) * k)
    seeds = [[1000 * i + j for j in range(k)] for i in range(len(convs))]
    list(gen.sample(convs[:2], [s[:2] for s in seeds[:2]], SamplingConfig(max_new_tokens=4)))  # warm-up
    _sync(gen.device)
    started = time.perf_counter()
    out = dict(gen.sample(convs, seeds, cfg))
    _sync(gen.device)
    elapsed = time.perf_counter() - started
    tokens = sum(s.new_tokens for samples in out.values() for s in samples)
    return tokens, elapsed, [out[0][0].text, out[0][1].text, out[1][0].text]


def bench_naive(gen: LocalGenerator, convs, k: int, max_new: int, n_samples: int) -> tuple[int, float]:
    import torch

    model = gen.model
    jobs = [(c, j) for c in convs for j in range(k)][:n_samples]
    stop = sorted(gen.stop_ids)
    dev = gen.device
    ids0 = torch.tensor([gen.encode(convs[0])], device=dev)
    model.generate(ids0, attention_mask=torch.ones_like(ids0), max_new_tokens=4, do_sample=True,
                   pad_token_id=gen.pad_id)  # warm-up
    _sync(dev)
    tokens, started = 0, time.perf_counter()
    for conv, j in jobs:
        ids = torch.tensor([gen.encode(conv)], device=dev)
        torch.manual_seed(j)
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new, do_sample=True,
                             temperature=TEMPERATURE, top_p=TOP_P, top_k=0, eos_token_id=stop, pad_token_id=gen.pad_id)
        new = out[0, ids.shape[1]:].tolist()
        tokens += len([t for t in new if t not in gen.stop_ids])
    _sync(dev)
    return tokens, time.perf_counter() - started


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def bench_llamacpp(convs, k: int, max_new: int, n_samples: int, threads: int) -> tuple[int, float] | str:
    """(tokens, seconds), or why it was skipped."""
    if n_samples < 1:
        return "skipped (--llamacpp-samples 0)"
    try:
        from llama_cpp import Llama
    except ImportError:
        return "not installed (pip install llama-cpp-python)"
    try:
        gguf = gguf_path()
    except FileNotFoundError as exc:
        return f"skipped: {exc}"
    llm = Llama(model_path=str(gguf), n_threads=threads, n_ctx=1024, verbose=False, seed=0)
    llm.create_chat_completion(convs[0], max_tokens=4)  # warm-up
    tokens, started = 0, time.perf_counter()
    for conv, j in [(c, j) for c in convs for j in range(k)][:n_samples]:
        out = llm.create_chat_completion(conv, max_tokens=max_new, temperature=TEMPERATURE, top_p=TOP_P,
                                         top_k=0, seed=j)
        tokens += out["usage"]["completion_tokens"]
    return tokens, time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", default="/tmp/smolconv/SmolLM2-135M-Instruct",
                    help="converted SmolLM2 directory (converted from the bundled GGUF if missing)")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="torch and llama.cpp threads")
    ap.add_argument("--naive-samples", type=int, default=8)
    ap.add_argument("--llamacpp-samples", type=int, default=16, help="0 skips llama.cpp")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (Ranklab's sampler and the naive baseline)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    model_dir = Path(args.model_dir)
    if not (model_dir / "config.json").exists():
        convert(model_dir)
    gen = LocalGenerator(model_dir, device=args.device)
    convs = prompts(args.prompts)
    where = f"{args.threads} threads" if args.device == "cpu" else \
        f"{args.device} ({torch.cuda.get_device_name(0) if args.device.startswith('cuda') else args.device}, " \
        f"{next(gen.model.parameters()).dtype}), {args.threads} CPU threads"
    print(f"model {model_dir.name}, {args.prompts} prompts x K={args.k} x {args.max_new_tokens} new tokens, "
          f"{where}, torch {torch.__version__}", flush=True)

    tokens, secs, examples = bench_ranklab(gen, convs, args.k, args.max_new_tokens)
    ranklab = tokens / secs
    print(f"ranklab  : {tokens} tokens in {secs:.1f} s = {ranklab:.1f} tokens/s", flush=True)
    for text in examples:
        print("   sample:", json.dumps(text[:120]))
    tokens, secs = bench_naive(gen, convs, args.k, args.max_new_tokens, args.naive_samples)
    naive = tokens / secs
    print(f"naive    : {tokens} tokens in {secs:.1f} s = {naive:.1f} tokens/s ({args.naive_samples} samples, "
          "one generate call each)", flush=True)
    lc = bench_llamacpp(convs, args.k, args.max_new_tokens, args.llamacpp_samples, args.threads)
    if not isinstance(lc, str):
        llamacpp = f"{lc[0] / lc[1]:.1f}"
        print(f"llamacpp : {lc[0]} tokens in {lc[1]:.1f} s = {llamacpp} tokens/s ({args.llamacpp_samples} samples, "
              f"single stream, {args.threads} threads)", flush=True)
    else:
        llamacpp = "nan"
        print(f"llamacpp : {lc}")
    print(f"generation_bench tokens_per_s={ranklab:.1f} naive_tokens_per_s={naive:.1f} ratio={ranklab / naive:.2f} "
          f"llamacpp_tokens_per_s={llamacpp}")


if __name__ == "__main__":
    main()
