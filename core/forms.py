"""How every Django form renders: the project's templates (so widgets may have their own) and
one field layout in which a checkbox sits beside its label; and a field for lists of row ids."""
import re

from django.core.exceptions import ValidationError
from django.forms import ModelMultipleChoiceField
from django.forms.renderers import TemplatesSetting

from core.converters import BIGINT_MAX


class FormRenderer(TemplatesSetting):
    field_template_name = "forms/field.html"


class ModelIdsField(ModelMultipleChoiceField):
    """ModelMultipleChoiceField for row ids: each must be a whole number that fits a bigint. Django
    looks the ids up with `pk__in`, which (unlike `pk=`) has no range check, so twenty digits would
    overflow inside the database driver (a 500) instead of being a form error."""

    def _check_values(self, value):
        for pk in value if isinstance(value, (list, tuple)) else [value]:
            text = str(pk)
            if not re.fullmatch(r"[0-9]{1,19}", text) or int(text) > BIGINT_MAX:
                raise ValidationError(self.error_messages["invalid_pk_value"], code="invalid_pk_value",
                                      params={"pk": text[:40]})
        return super()._check_values(value)
