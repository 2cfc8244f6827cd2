"""DRF validation errors as one sentence, for the HTML forms that share the API's serializers."""
from __future__ import annotations


def errors_text(errors) -> str:
    """{"tiers": {0: ["A valid integer is required."]}} → "tiers[0]: A valid integer is required." """
    parts: list[str] = []

    def walk(value, path: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key in ("non_field_errors", "detail"):
                    walk(inner, path)
                elif isinstance(key, int):
                    walk(inner, f"{path}[{key}]")
                else:
                    walk(inner, f"{path}.{key}" if path else str(key))
        elif isinstance(value, (list, tuple)):
            for inner in value:
                walk(inner, path)
        else:
            parts.append(f"{path}: {value}" if path else str(value))

    walk(errors, "")
    return " ".join(parts)
