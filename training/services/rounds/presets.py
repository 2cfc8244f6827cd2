"""The "CPU-friendly" preset of the start form and `manage.py round start --cpu-friendly`:
the lower 24 of SmolLM2-135M's 30 decoder layers frozen, a reward model of eight epochs, DPO with an
RPO term on one clear pair per ranking, short answers. The reward model and DPO compute the frozen layers
once per sequence (`cache_frozen`), after which every epoch runs the 6 upper layers alone. The README's round
duration was measured with it (bench/loop_bench.py)."""
from __future__ import annotations

CPU_PRESET = {
    # Eight cheap epochs at 3e-4 instead of two at 1e-4: two did not even fit a round's few dozen rankings,
    # eight learned a simulated rule that two missed (bench/rm_rule.py, docs/benchmarks.md). Five minutes
    # at most, so that more labels cost the reward step epochs instead of lengthening the round.
    "reward_config": {"freeze_layers": 24, "max_length": 192, "num_epochs": 8, "batch_size": 8,
                      "learning_rate": 3e-4, "cache_frozen": True, "max_seconds": 300},
    "evaluation": {"n_prompts": 16, "max_new_tokens": 64, "rm_max_length": 192},
    "generation": {"n_prompts": 8, "max_new_tokens": 64},
}
PRESET_POLICY = {  # the policy options of each method
    # DPO + RPO (alpha × NLL of the chosen answer) on one clear pair per ranking, a few epochs: what moved a
    # simulated rule on 2 cores (bench/loop_bench.py, docs/benchmarks.md). At 1e-4 a keyword rule needed two
    # rounds to move as far as 2e-4 moves it in one, for the same steps.
    "dpo": {"freeze_layers": 24, "max_length": 192, "epochs": 4, "batch_size": 8, "pairs_per_ranking": "best_worst",
            "learning_rate": 2e-4, "beta": 0.1, "rpo_alpha": 1.0, "cache_frozen": True},
    "ppo": {"freeze_layers": 24, "steps": 8, "batch_size": 8, "mini_batch_size": 4, "max_new_tokens": 32,
            "max_prompts": 64, "rm_max_length": 192},
    # 32 steps at 2e-4 with a light KL (β 0.02): at 5e-5 the policy hardly moved from its reference.
    "rloo": {"freeze_layers": 24, "max_steps": 32, "batch_size": 8, "num_generations": 4,
             "max_completion_length": 32, "max_prompts": 64, "rm_max_length": 192, "learning_rate": 2e-4,
             "beta": 0.02},
}


def cpu_friendly(params: dict, method: str) -> dict:
    """The preset under the caller's own options (theirs win, key by key)."""
    preset = {**CPU_PRESET, "policy_config": PRESET_POLICY.get(method, {})}
    return {**params, **{key: {**value, **(params.get(key) or {})} for key, value in preset.items()}}
