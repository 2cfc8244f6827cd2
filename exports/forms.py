"""HTML forms for starting an export or an import; both hand their data to the same services
as the API and the commands."""
from django import forms

from exports.importers.examples import EXAMPLES
from exports.services.imports import IMPORT_KINDS
from exports.services.options import DEFAULT_FORMATS, FILE_TYPES, MARGIN_MODES, MERGE_MODES, PAIR_MODES
from exports.writers import FORMATS


class ExportForm(forms.Form):
    formats = forms.MultipleChoiceField(choices=[(k, f"{k}: {f.description}") for k, f in FORMATS.items()],
                                        initial=list(DEFAULT_FORMATS), widget=forms.CheckboxSelectMultiple)
    file_type = forms.ChoiceField(choices=[(t, t) for t in FILE_TYPES], initial="jsonl")
    test_ratio = forms.FloatField(min_value=0, max_value=1, initial=0.1, help_text="Share of prompts held out for the test split (0 to 1).")
    pairs = forms.ChoiceField(choices=[(p, p) for p in PAIR_MODES], initial="all")
    margin = forms.ChoiceField(choices=[(m, m) for m in MARGIN_MODES], initial="none")
    merge = forms.ChoiceField(choices=[(m, m) for m in MERGE_MODES], initial="separate",
                              help_text="separate: one row per submission; consensus: one per task")
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    labelers = forms.CharField(required=False, help_text="User ids, comma-separated; empty: everyone")
    min_agreement = forms.FloatField(required=False, min_value=-1, max_value=1,
                                     help_text="Only tasks whose labelers agree at least this much (-1 to 1); empty: all")
    min_submissions = forms.IntegerField(min_value=1, initial=1, help_text="Only tasks with at least this many answers")
    only_accepted = forms.BooleanField(required=False, label="Only submissions a reviewer accepted")
    exclude_gold = forms.BooleanField(required=False, label="Leave out gold tasks")
    exclude_cant_judge = forms.BooleanField(required=False, initial=True, label="Leave out “can't judge” answers")
    include_imported = forms.BooleanField(required=False, initial=True, label="Include imported preference data")

    def options(self) -> dict:
        data = dict(self.cleaned_data)
        for key in ("date_from", "date_to"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


class ImportForm(forms.Form):
    file = forms.FileField(required=False)
    kind = forms.ChoiceField(required=False, choices=[(k, k) for k in IMPORT_KINDS])
    example = forms.ChoiceField(required=False, widget=forms.HiddenInput,
                                choices=[("", "")] + [(k, e.label) for k, e in EXAMPLES.items()])
    format = forms.ChoiceField(required=False, choices=[("", "from the file name")] + sorted(
        {(f, f) for fmts in IMPORT_KINDS.values() for f in fmts}))
    on_duplicate = forms.ChoiceField(required=False, choices=[("", "default"), ("skip", "skip"), ("fail", "fail")],
                                     help_text="A prompt already in the project: reuse it (skip) or refuse the file (fail)")
    source = forms.CharField(required=False, help_text="Label stored on what is imported, e.g. import:hh-rlhf")
    as_gold = forms.BooleanField(required=False, help_text="Preferences become gold tasks, not rankings")
    make_tasks = forms.BooleanField(required=False, help_text="Candidates: group each prompt's into ranking tasks")
