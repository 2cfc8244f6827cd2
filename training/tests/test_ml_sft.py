"""SFT on demonstrations through TRL's SFTTrainer, on a tiny random Llama and the bundled tokenizer."""
import json
import random
from pathlib import Path

import pytest
import torch

from training.ml.common import ConfigError, config_from_dict
from training.ml.data import DataError, load_demonstrations
from training.ml.sft import SFTJobConfig, assistant_mask, mark_assistant_turns, train

COLOURS = "red green blue yellow black white".split()


def demo_rows(n: int, seed: int) -> list[dict]:
    """'Repeat <colour>' → '<colour> <colour> <colour>': learnable by a tiny model. Every third
    row is a two-turn dialogue, every fifth uses the prompt/completion form."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b = rng.choice(COLOURS), rng.choice(COLOURS)
        if i % 5 == 4:
            rows.append({"prompt": f"Repeat {a}", "completion": f"{a} {a} {a}"})
        elif i % 3 == 2:
            rows.append({"messages": [{"role": "user", "content": f"Repeat {a}"}, {"role": "assistant", "content": f"{a} {a} {a}"},
                                      {"role": "user", "content": f"Repeat {b}"}, {"role": "assistant", "content": f"{b} {b} {b}"}]})
        else:
            rows.append({"messages": [{"role": "user", "content": f"Repeat {a}"}, {"role": "assistant", "content": f"{a} {a} {a}"}]})
    return rows


def write_snapshot(root: Path, train_rows, test_rows) -> Path:
    (root / "sft_messages").mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train_rows), ("test", test_rows)):
        (root / "sft_messages" / f"{name}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (root / "manifest.json").write_text(json.dumps({"sha256": "sft-snap"}))
    return root


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory, bundled_tokenizer):
    from training.ml.bundled import tiny_random_model

    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("base")
    tiny_random_model(len(bundled_tokenizer)).save_pretrained(path)
    bundled_tokenizer.save_pretrained(path)
    return path


def config(base, data, out, **overrides) -> SFTJobConfig:
    values = dict(model_name_or_path=str(base), data_path=str(data), output_dir=str(out), learning_rate=1e-2,
                  batch_size=8, num_epochs=4, logging_steps=2, save_steps=0, max_length=128, lr_scheduler="constant")
    values.update(overrides)
    return config_from_dict(SFTJobConfig, values)


def test_loss_mask_covers_every_assistant_turn_and_its_end_token_only(bundled_tokenizer_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(bundled_tokenizer_dir)
    messages = [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi there"},
                {"role": "user", "content": "And now?"}, {"role": "assistant", "content": "Second answer"}]
    before = tokenizer.apply_chat_template(messages, tokenize=False)
    original = mark_assistant_turns(tokenizer)
    assert "{% generation %}" in tokenizer.chat_template and "{% generation %}" not in original
    assert tokenizer.apply_chat_template(messages, tokenize=False) == before  # renders byte-identically
    ids, mask = assistant_mask(tokenizer, messages)
    learned = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if m])
    assert learned == "Hi there<|im_end|>Second answer<|im_end|>"
    assert "Hello" not in learned and "system" not in learned


def test_sft_lowers_the_loss_and_saves_a_loadable_policy(tiny_base, tmp_path, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    data = write_snapshot(tmp_path / "snap", demo_rows(48, 1), demo_rows(8, 2))
    metrics = train(config(tiny_base, data, tmp_path / "run"))
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    logs = [e for e in events if e["event"] == "log"]
    assert events[0]["event"] == "start" and events[0]["train_conversations"] == 48 and events[0]["snapshot_sha256"] == "sft-snap"
    assert logs[-1]["loss"] < 0.5 * logs[0]["loss"], logs
    assert 0 < logs[0]["progress"] < logs[-1]["progress"] <= 1.0
    assert events[-1]["event"] == "done" and metrics["steps"] == 24
    assert metrics["eval_loss"] < 3.0 and metrics["eval_perplexity"] == pytest.approx(2.718281828 ** metrics["eval_loss"])

    model_dir = tmp_path / "run" / "model"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    assert "{% generation %}" not in tokenizer.chat_template  # the inference template is what ships
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Repeat blue"}], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    out = model.generate(**prompt, max_new_tokens=8, do_sample=False)
    answer = tokenizer.decode(out[0, prompt["input_ids"].shape[1]:])
    # from random weights to the demonstrations' shape: colour words, then the end-of-turn token
    assert answer.endswith("<|im_end|>") and answer.split()[0].removesuffix("<|im_end|>") in COLOURS, answer
    assert json.loads((model_dir / "ranklab.json").read_text())["kind"] == "policy"


def test_sft_resumes_from_its_last_checkpoint_with_lora(tiny_base, tmp_path, capsys):
    data = write_snapshot(tmp_path / "snap", demo_rows(32, 3), [])
    train(config(tiny_base, data, tmp_path / "run", max_steps=4, save_steps=2, lora_r=4))
    checkpoints = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-2", "checkpoint-4"]
    meta = json.loads((tmp_path / "run" / "checkpoints" / "checkpoint-4" / "meta.json").read_text())
    assert meta["step"] == 4 and meta["snapshot_sha256"] == "sft-snap" and meta["config"]["lora_r"] == 4
    capsys.readouterr()
    metrics = train(config(tiny_base, data, tmp_path / "run", max_steps=6, save_steps=2, lora_r=4))
    start = json.loads(capsys.readouterr().out.splitlines()[0])
    assert start["resumed_from"].endswith("checkpoint-4") and metrics["steps"] == 6
    from safetensors.torch import load_file

    assert not any("lora" in k for k in load_file(tmp_path / "run" / "model" / "model.safetensors"))


def test_demonstrations_without_an_answer_are_refused(tmp_path):
    rows = demo_rows(3, 0) + [{"messages": [{"role": "user", "content": "only a question"}]}]
    write_snapshot(tmp_path, rows, [])
    with pytest.raises(DataError, match="train.jsonl line 4: no assistant turn to learn from"):
        load_demonstrations(tmp_path)
    write_snapshot(tmp_path, [{"text": "raw"}], [])
    with pytest.raises(DataError, match="line 1: expected 'messages' or 'prompt' \\+ 'completion'"):
        load_demonstrations(tmp_path)
    with pytest.raises(ConfigError, match="data_path is required"):
        config_from_dict(SFTJobConfig, {"model_name_or_path": "m", "output_dir": "o"})
