from django import template

register = template.Library()


@register.filter
def pct(value, digits=0):
    """0.726 -> "72.6%" (with digits=1); None -> "–"."""
    if value is None or value == "":
        return "–"
    return f"{float(value) * 100:.{int(digits)}f}%"


@register.filter
def dash(value):
    return "–" if value is None or value == "" else value
