"""Template filters for untrusted text: `{{ text|safe_markdown }}` renders markdown with raw
HTML shown as text and the output sanitised by nh3 (annotate/services/text.py)."""
from django import template
from django.utils.safestring import mark_safe

from annotate.services.text import markdown_to_safe_html

register = template.Library()


@register.filter
def safe_markdown(text):
    return mark_safe(markdown_to_safe_html(text or ""))  # noqa: S308 — sanitised by nh3 above


@register.filter
def get_item(mapping, key):
    return (mapping or {}).get(key)
