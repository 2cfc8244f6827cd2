"""A page's query parameters, parsed by a Django form: an id is a whole number that fits a bigint,
so "abc", "²" or twenty digits answer a 400 with a sentence instead of reaching the database."""
from django import forms
from django.http import HttpResponseBadRequest

from core.converters import BIGINT_MAX


class IdField(forms.IntegerField):
    """An optional row id in a query string."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(min_value=1, max_value=BIGINT_MAX, **kwargs)


def query_refused(form: forms.Form) -> HttpResponseBadRequest:
    """The 400 for a query string `form` refused: one sentence per parameter, as plain text (the
    page could not be built from it)."""
    text = " ".join(f"The query parameter {name!r} is not valid: {' '.join(errors)}"
                    for name, errors in form.errors.items())
    return HttpResponseBadRequest(text, content_type="text/plain; charset=utf-8")
