"""A page's query parameters, parsed by a Django form: an id is a whole number that fits a bigint,
so "abc", "²" or twenty digits answer a 400 with a sentence instead of reaching the database."""
from django import forms

from core.converters import BIGINT_MAX
from core.errors import refusal


class IdField(forms.IntegerField):
    """An optional row id in a query string."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(min_value=1, max_value=BIGINT_MAX, **kwargs)


def query_refused(request, form: forms.Form):
    """The 400 for a query string `form` refused: one sentence per parameter, on the styled error
    page (the page itself could not be built from it)."""
    text = " ".join(f"The query parameter {name!r} is not valid: {' '.join(errors)}"
                    for name, errors in form.errors.items())
    return refusal(request, 400, text)
