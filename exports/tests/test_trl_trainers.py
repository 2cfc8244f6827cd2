"""The exports feed TRL unchanged: one training step of RewardTrainer, DPOTrainer,
SFTTrainer and KTOTrainer on a tiny random Llama (SmolLM2's tokenizer), reading the
snapshot's files with datasets.load_dataset("json", ...)."""
from pathlib import Path

import pytest

from exports.tests.conftest import run_export

pytestmark = pytest.mark.django_db


@pytest.fixture
def snapshot(project, labelled):
    import torch

    torch.set_num_threads(1)
    snap, _ = run_export(project, formats=["preference", "preference_chat", "sft_messages", "sft_prompt_completion",
                                           "kto"], test_ratio=0.0, margin="ratings")
    return snap


def dataset(snap, fmt):
    from datasets import load_dataset

    return load_dataset("json", data_files=str(Path(snap.path) / fmt / "train.jsonl"), split="train")


def common(tmp_path):
    return dict(output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=2, learning_rate=1e-3,
                report_to=[], save_strategy="no", logging_steps=1, use_cpu=True, dataloader_num_workers=0,
                disable_tqdm=True)


def changed(before: dict, model) -> bool:
    return any(not (before[n] == p.detach()).all() for n, p in model.named_parameters() if p.requires_grad)


def snapshot_params(model) -> dict:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def assert_one_finite_step(trainer, model, before):
    result = trainer.train()
    import math

    assert result.global_step == 1 and math.isfinite(result.training_loss)
    assert changed(before, model)


def test_reward_trainer_reads_preference_with_margin(snapshot, bundled_tokenizer, tmp_path):
    from transformers import LlamaForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    from training.ml.bundled import tiny_random_model

    base = tiny_random_model(len(bundled_tokenizer))
    config = base.config
    config.num_labels = 1
    config.pad_token_id = bundled_tokenizer.pad_token_id or bundled_tokenizer.eos_token_id
    model = LlamaForSequenceClassification(config)
    data = dataset(snapshot, "preference")
    assert "margin" in data.column_names
    before = snapshot_params(model)
    trainer = RewardTrainer(model=model, args=RewardConfig(max_length=128, **common(tmp_path)),
                            train_dataset=data, processing_class=bundled_tokenizer)
    assert_one_finite_step(trainer, model, before)


@pytest.mark.parametrize("fmt", ["preference", "preference_chat"])
def test_dpo_trainer_reads_preference(snapshot, bundled_tokenizer, tmp_path, fmt):
    from trl import DPOConfig, DPOTrainer

    from training.ml.bundled import tiny_random_model

    model, ref = tiny_random_model(len(bundled_tokenizer)), tiny_random_model(len(bundled_tokenizer))
    data = dataset(snapshot, fmt).remove_columns(["margin"])  # DPO has no margin column
    before = snapshot_params(model)
    trainer = DPOTrainer(model=model, ref_model=ref, args=DPOConfig(max_length=128, **common(tmp_path)),
                         train_dataset=data, processing_class=bundled_tokenizer)
    assert_one_finite_step(trainer, model, before)


@pytest.mark.parametrize("fmt", ["sft_messages", "sft_prompt_completion"])
def test_sft_trainer_reads_demonstrations(snapshot, bundled_tokenizer, tmp_path, fmt):
    from trl import SFTConfig, SFTTrainer

    from training.ml.bundled import tiny_random_model

    model = tiny_random_model(len(bundled_tokenizer))
    data = dataset(snapshot, fmt)
    before = snapshot_params(model)
    trainer = SFTTrainer(model=model, args=SFTConfig(max_length=128, **common(tmp_path)), train_dataset=data,
                         processing_class=bundled_tokenizer)
    assert_one_finite_step(trainer, model, before)


def test_kto_trainer_reads_kto(snapshot, bundled_tokenizer, tmp_path):
    from trl import KTOConfig, KTOTrainer

    from training.ml.bundled import tiny_random_model

    model, ref = tiny_random_model(len(bundled_tokenizer)), tiny_random_model(len(bundled_tokenizer))
    data = dataset(snapshot, "kto")
    assert set(data["label"]) == {True, False}
    before = snapshot_params(model)
    trainer = KTOTrainer(model=model, ref_model=ref, args=KTOConfig(max_length=128, **common(tmp_path)),
                         train_dataset=data, processing_class=bundled_tokenizer)
    assert_one_finite_step(trainer, model, before)
