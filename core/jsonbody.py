"""Limits on the shape of JSON a client sends: how deep it nests and whether any string holds a
NUL character (PostgreSQL refuses NUL in text and jsonb, so it would surface as a 500).

Used by the API's JSON parser (core.parsers) and by the HTML forms that carry JSON in a field.
"""
from __future__ import annotations

import json
import math

from django.conf import settings


class JSONShapeError(ValueError):
    """The body is valid JSON but nests too deep or holds a NUL character."""


def max_depth() -> int:
    return settings.API_JSON_MAX_DEPTH


def json_check(value) -> None:
    """Raise JSONShapeError if `value` (parsed JSON) nests deeper than API_JSON_MAX_DEPTH, has a
    NUL character in any string, key or value, or a number too large for a float (1e400 parses as
    infinity, which no JSON column stores). Iterative, so any depth is safe to inspect."""
    limit = max_depth()
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise JSONShapeError("Text may not contain NUL (\\u0000) characters.")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise JSONShapeError(f"Numbers must be finite; {item} is out of range.")
        elif isinstance(item, (list, dict)):
            if depth > limit:
                raise JSONShapeError(f"JSON may nest at most {limit} levels deep.")
            if isinstance(item, dict):
                stack.extend((k, depth) for k in item)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)


def json_loads(text: str):
    """json.loads for text a client sent, with json_check's limits: JSONShapeError for too deep
    or NUL, json.JSONDecodeError (a ValueError) for text that is not JSON."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise JSONShapeError(f"JSON may nest at most {max_depth()} levels deep.") from None
    json_check(value)
    return value
