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


@pytest.fixture(scope="module")
def tiny_model_path(tmp_path_factory, bundled_tokenizer):
    """The same tiny random Llama and tokenizer on disk only, once per test module (no database):
    for the trainers run as programs."""
    from training.ml.bundled import tiny_random_model

    path = tmp_path_factory.mktemp("base")
    tiny_random_model(len(bundled_tokenizer)).save_pretrained(path)
    bundled_tokenizer.save_pretrained(path)
    return path
