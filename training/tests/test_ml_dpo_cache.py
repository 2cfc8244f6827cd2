"""DPO's cache_frozen (training/ml/frozen.py CausalLowerCache): the frozen lower layers run once per
sequence, and training is otherwise the same as without the cache."""
import pytest
import torch

from training.ml import common, dpo
from training.ml.bundled import tiny_random_model
from training.tests.test_ml_dpo import rankings, write_snapshot


def run(tokenizer, tmp_path, name, *, cache_frozen, model=None, **extra):
    """A DPO run of 2 epochs with the CPU preset's settings on a 3-layer model with 2 frozen;
    returns (model, events, rows the lowest layer computed)."""
    model = model or tiny_random_model(len(tokenizer), hidden=32, layers=3, heads=2, seed=0)
    seen = []
    hook = model.model.layers[0].register_forward_hook(lambda mod, args, out: seen.append(args[0].shape[0]))
    config = dpo.DPOConfig(model_name_or_path="", data_path=str(write_snapshot(tmp_path / f"snap-{name}", rankings())),
                           output_dir=str(tmp_path / name), learning_rate=5e-3, epochs=2, batch_size=8,
                           max_length=128, freeze_layers=2, rpo_alpha=1.0, cache_frozen=cache_frozen, **extra)
    events = []
    dpo.train(config, model=model, tokenizer=tokenizer, emit=events.append)
    hook.remove()
    return model, events, sum(seen)


def test_cache_frozen_trains_the_same_model_running_the_lower_layers_once(bundled_tokenizer, tmp_path):
    torch.set_num_threads(1)
    plain, plain_events, plain_rows = run(bundled_tokenizer, tmp_path, "plain", cache_frozen=False)
    cached, cached_events, cached_rows = run(bundled_tokenizer, tmp_path, "cached", cache_frozen=True)

    losses = [[e["loss"] for e in ev if e["event"] == "log"] for ev in (plain_events, cached_events)]
    assert len(losses[0]) == 8  # 32 pairs of 8 per step, 2 epochs
    assert losses[1] == pytest.approx(losses[0], abs=1e-4)
    assert losses[0][-1] < losses[0][0] - 0.2  # it trained, so equal losses are not two idle runs
    # 32 distinct sequences (each chosen answer is in two pairs) once, plus one for the exactness check, where
    # the plain run computes all 64 in the reference pass and in each epoch
    assert (plain_rows, cached_rows) == (3 * 64, 32 + 1)

    assert "forward" not in vars(cached.model)  # the backbone's own forward is back
    from transformers import AutoModelForCausalLM

    saved = {name: AutoModelForCausalLM.from_pretrained(tmp_path / name / "model") for name in ("plain", "cached")}
    assert len(saved["cached"].model.layers) == 3
    cached_weights = saved["cached"].state_dict()
    for key, weight in saved["plain"].state_dict().items():
        assert torch.allclose(weight, cached_weights[key], atol=1e-5), key
    changed = ~torch.isclose(saved["cached"].model.layers[2].mlp.up_proj.weight,
                             tiny_random_model(len(bundled_tokenizer), hidden=32, layers=3, heads=2,
                                               seed=0).model.layers[2].mlp.up_proj.weight)
    assert changed.any()


def test_cache_frozen_is_refused_where_it_cannot_be_exact(bundled_tokenizer, tmp_path):
    with pytest.raises(common.ConfigError, match="cache_frozen needs freeze_layers .* and no LoRA"):
        common.config_from_dict(dpo.DPOConfig, {"model_name_or_path": "x", "cache_frozen": True})
    with pytest.raises(common.ConfigError, match="cache_frozen needs freeze_layers .* and no LoRA"):
        common.config_from_dict(dpo.DPOConfig, {"model_name_or_path": "x", "cache_frozen": True, "freeze_layers": 2,
                                                "lora_r": 4})
    model = tiny_random_model(len(bundled_tokenizer), hidden=32, layers=3, heads=2, seed=0)
    model.config.attention_dropout = 0.1
    with pytest.raises(common.ConfigError, match=r"needs a model without dropout, this one sets \{'attention_dropout'"):
        run(bundled_tokenizer, tmp_path, "dropout", cache_frozen=True, model=model, max_steps=1)
    assert "forward" not in vars(model.model)
