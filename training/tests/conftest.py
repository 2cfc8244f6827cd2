"""Fixtures shared by the training tests."""
import pytest


@pytest.fixture
def tiny_base(tmp_path, bundled_tokenizer, db):
    """A tiny random Llama with the bundled tokenizer, registered as a transformers ModelVersion."""
    from training.ml.bundled import tiny_random_model
    from training.services.registry import model_register

    path = tmp_path / "tiny-base"
    tiny_random_model(len(bundled_tokenizer)).save_pretrained(path)
    bundled_tokenizer.save_pretrained(path)
    return model_register(name="tiny-base", backend="transformers", location=str(path))
