"""How every Django form renders: the project's templates (so widgets may have their own) and
one field layout in which a checkbox sits beside its label."""
from django.forms.renderers import TemplatesSetting


class FormRenderer(TemplatesSetting):
    field_template_name = "forms/field.html"
