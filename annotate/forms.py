"""The project form of the admin pages: every project setting with a widget of its own (no JSON
to type). Its fields only parse what the browser sends; the rules live in Project.clean() (and
the database constraints behind it), which the ModelForm runs, so the form shows every problem
at once and the services refuse the same input."""
from __future__ import annotations

from django import forms
from django.utils.text import slugify

from annotate.models import Project, TaskKind
from core.forms import ModelIdsField


class PercentField(forms.FloatField):
    """A fraction in [0, 1] stored on the model, typed as a percentage."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.NumberInput(attrs={"step": "any", "inputmode": "decimal",
                                                             "class": "percent"}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, float | int) and not isinstance(value, bool):
            return f"{round(value * 100, 4):g}"
        return value

    def to_python(self, value):
        value = super().to_python(value)
        return None if value is None else value / 100


class MinutesField(forms.IntegerField):
    """Seconds on the model, minutes in the form."""

    def prepare_value(self, value):
        if isinstance(value, int) and not isinstance(value, bool):
            return round(value / 60)
        return value

    def to_python(self, value):
        value = super().to_python(value)
        return None if value is None else value * 60


class RatingScaleWidget(forms.MultiWidget):
    template_name = "annotate/widgets/rating_scale.html"

    def __init__(self):
        super().__init__({
            "label": forms.TextInput(attrs={"maxlength": 100, "autocomplete": "off"}),
            "min": forms.NumberInput(attrs={"min": 0, "max": 10, "class": "short"}),
            "max": forms.NumberInput(attrs={"min": 0, "max": 10, "class": "short"}),
        })

    def decompress(self, value):
        value = value or {}
        return [value.get("label", ""), value.get("min"), value.get("max")]


class RatingScaleField(forms.MultiValueField):
    """{"name", "label", "min", "max"}: what the workspace shows under each candidate."""

    widget = RatingScaleWidget

    def __init__(self, **kwargs):
        fields = (forms.CharField(max_length=100, required=False), forms.IntegerField(required=False),
                  forms.IntegerField(required=False))
        super().__init__(fields=fields, require_all_fields=False, **kwargs)

    def compress(self, data_list):
        label, lo, hi = (list(data_list) + [None, None, None])[:3]
        label = (label or "").strip()
        return {"name": slugify(label).replace("-", "_")[:50] or "rating", "label": label, "min": lo, "max": hi}


class FlagsWidget(forms.Widget):
    """One row per flag (label and key) plus empty rows to add one; rows left empty are dropped.
    static/ranklab/js/rows.js adds and removes rows without a round trip."""

    template_name = "annotate/widgets/flags.html"
    EMPTY_ROWS = 2

    def format_value(self, value):
        return value

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        rows = [{"label": str(f.get("label", "")), "key": str(f.get("key", ""))}
                for f in (value if isinstance(value, list) else []) if isinstance(f, dict)]
        context["widget"]["rows"] = rows + [{"label": "", "key": ""}] * self.EMPTY_ROWS
        return context

    def value_from_datadict(self, data, files, name):
        labels, keys = data.getlist(f"{name}_label"), data.getlist(f"{name}_key")
        rows = []
        for i in range(max(len(labels), len(keys))):
            label = (labels[i] if i < len(labels) else "").strip()
            key = (keys[i] if i < len(keys) else "").strip()
            if label or key:
                rows.append({"key": key or slugify(label).replace("-", "_")[:50], "label": label})
        return rows

    def value_omitted_from_data(self, data, files, name):
        return f"{name}_label" not in data and f"{name}_key" not in data


class FlagsField(forms.Field):
    widget = FlagsWidget

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value):
        return list(value or [])


class ProjectForm(forms.ModelForm):
    task_kinds = forms.TypedMultipleChoiceField(
        choices=TaskKind.choices, widget=forms.CheckboxSelectMultiple, required=False,
        help_text="What labelers do in this project.")
    lease_seconds = MinutesField(label="Lease (minutes)", min_value=0,
                                 widget=forms.NumberInput(attrs={"min": 1, "max": Project.MAX_LEASE_SECONDS // 60}),
                                 help_text="How long a labeler holds a task before it goes back to the pool "
                                           "(renewed while their tab is open).")
    rating_scale = RatingScaleField(label="Rating scale", help_text="Name and range of the rating labelers give "
                                                                     "each candidate.")
    flags = FlagsField(label="Flags", help_text="Problems labelers can mark on a candidate. The key is what "
                                               "exports store: leave it empty to derive it from the label.")
    gold_rate = PercentField(label="Gold rate (%)", help_text="Chance that a labeler's next task is a gold task "
                                                             "with a known answer.")
    qualification_pass_mark = PercentField(label="Pass mark (%)",
                                           help_text="Mean screening score needed before real work.")
    pause_below_gold_accuracy = PercentField(label="Pause below gold accuracy (%)", help_text="0: never pause.")
    pause_below_agreement = PercentField(label="Pause below agreement (%)", help_text="0: never pause.")
    review_sample_rate = PercentField(label="Review sample (%)",
                                      help_text="Share of submissions sampled into the review queue.")
    review_flag_below = PercentField(label="Flag for review below agreement (%)",
                                     help_text="Rankings agreeing less than this with their task's consensus are "
                                               "flagged for review.")

    class Meta:
        model = Project
        fields = ["name", "description", "guidelines", "task_kinds", "k", "submissions_required", "lease_seconds",
                  "rating_scale", "flags", "gold_rate", "qualification_required", "qualification_pass_mark",
                  "quality_window", "quality_min_samples", "pause_below_gold_accuracy", "pause_below_agreement",
                  "review_sample_rate", "review_flag_below", "sampling_models"]
        labels = {"k": "Candidates per ranking task (K)", "submissions_required": "Labelers per task (overlap)",
                  "qualification_required": "Labelers pass a screening before real work",
                  "quality_window": "Quality window (tasks)", "quality_min_samples": "Results before a pause",
                  "sampling_models": "Models that write candidates"}
        help_texts = {"guidelines": "Markdown. Labelers open it with g in the workspace.",
                      "k": "2 to 9.", "submissions_required": "2 or more gives agreement figures and consensus.",
                      "description": "One line shown on the project's card."}
        widgets = {
            "description": forms.TextInput(),
            "guidelines": forms.Textarea(attrs={"rows": 12, "class": "mono"}),
            "k": forms.NumberInput(attrs={"min": 2, "max": 9}),
            "submissions_required": forms.NumberInput(attrs={"min": 1}),
            "sampling_models": forms.CheckboxSelectMultiple,
        }
        field_classes = {"sampling_models": ModelIdsField}  # ids beyond a bigint are a form error, not a 500

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["k"].widget.attrs.update(min=2, max=9)
        self.fields["submissions_required"].widget.attrs.update(min=1)
        models = self.fields["sampling_models"]
        # Only policies write answers (training.services.registry holds the same rule for the API).
        models.queryset = models.queryset.filter(kind="policy").order_by("name")
        models.required = False
        if not self.instance.pk and not self.is_bound:
            # A new ModelForm takes initial values from model fields, but not for the fields
            # declared here: give those the model's defaults too.
            for name in self.declared_fields:
                self.initial.setdefault(name, getattr(self.instance, name))
            bundled = models.queryset.filter(is_bundled=True).first()
            if bundled is not None:
                self.initial.setdefault("sampling_models", [bundled.pk])

    def clean_name(self):
        return self.cleaned_data["name"].strip()
