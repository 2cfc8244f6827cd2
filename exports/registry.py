"""What exports and imports need from the model registry, which lives in the training app a layer
above: two lookups training registers in its AppConfig.ready, by dotted path (as the apps register
job kinds), so exports imports nothing from training and works without it.

    register_model_lookups(by_name="training.services.registry.models_by_name",
                           names="training.services.registry.model_names")
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils.module_loading import import_string

MODEL_LOOKUPS: dict[str, str] = {}


def register_model_lookups(*, by_name: str, names: str) -> None:
    """by_name(names) -> {name: model version}; names(ids) -> {id: name}."""
    MODEL_LOOKUPS.update(by_name=by_name, names=names)


def models_by_name(names: Iterable[str]) -> dict[str, Any]:
    """The registered model versions of these names (absent names are left out); {} when no app
    registered a model registry."""
    path = MODEL_LOOKUPS.get("by_name")
    return import_string(path)(set(names)) if path else {}


def model_names(ids: Iterable[int]) -> dict[int, str]:
    """{id: name} of the registered model versions among `ids`; {} without a registry."""
    path = MODEL_LOOKUPS.get("names")
    return import_string(path)(set(ids)) if path else {}
