"""What an export contains: filters on the labels, and options of the formats.

`export_options_check(project=..., raw={...})` turns user input (API, form, command line)
into an ExportOptions, or raises ValidationError naming the bad field. The options are stored
in the Job's params and in the snapshot's manifest, so a snapshot says how it was made.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime

from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_date, parse_datetime

from exports.writers import FORMATS

PAIR_MODES = ("all", "best_vs_rest")
MARGIN_MODES = ("none", "ratings", "strength")
MERGE_MODES = ("separate", "consensus")
FILE_TYPES = ("jsonl", "jsonl.gz", "parquet")
DEFAULT_FORMATS = ("ranked_groups", "preference", "sft_messages", "kto", "raw")


@dataclass
class ExportOptions:
    # --- filters ------------------------------------------------------------------------
    date_from: str | None = None  # ISO date or datetime, inclusive (submission time)
    date_to: str | None = None  # inclusive; a bare date covers the whole day
    labelers: list[int] = field(default_factory=list)  # user ids; empty: everyone
    min_agreement: float | None = None  # per task, labelers/agreement.py; needs >= 2 rankings
    only_accepted: bool = False  # only submissions a reviewer accepted
    exclude_gold: bool = False
    exclude_cant_judge: bool = True
    min_submissions: int = 1  # per task, after the other filters
    include_imported: bool = True  # rankings with a source such as import:hh-rlhf
    # --- shape --------------------------------------------------------------------------
    formats: list[str] = field(default_factory=lambda: list(DEFAULT_FORMATS))
    file_type: str = "jsonl"
    test_ratio: float = 0.1
    pairs: str = "all"  # all C(K,2) pairs (ties dropped) or best-vs-rest
    margin: str = "none"  # adds a `margin` column to the preference formats
    merge: str = "separate"  # one row per submission, or one consensus row per task
    chunk_size: int = 500  # tasks read from the database at a time

    def to_dict(self) -> dict:
        return asdict(self)


def _bool(value, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
        return value.lower() in ("1", "true", "yes", "on")
    raise ValidationError({name: f"Expected true or false, got {value!r}."})


def _when(value, name: str) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    if parse_datetime(text) is None and parse_date(text) is None:
        raise ValidationError({name: f"{text!r} is not an ISO date (YYYY-MM-DD) or date-time."})
    return text


def _choice(value, name: str, allowed) -> str:
    if value not in allowed:
        raise ValidationError({name: f"Choose one of {', '.join(allowed)}; got {value!r}."})
    return value


def _list(value) -> list:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def export_options_check(*, project, raw: dict | None) -> ExportOptions:
    """Validate raw options; unknown keys are refused rather than ignored."""
    raw = dict(raw or {})
    known = {f.name for f in fields(ExportOptions)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValidationError({"options": f"Unknown option(s) {unknown}; known: {sorted(known)}."})
    opts = ExportOptions()
    if "date_from" in raw:
        opts.date_from = _when(raw["date_from"], "date_from")
    if "date_to" in raw:
        opts.date_to = _when(raw["date_to"], "date_to")
    try:
        opts.labelers = sorted({int(v) for v in _list(raw.get("labelers"))})
    except (TypeError, ValueError):
        raise ValidationError({"labelers": "Give labeler user ids (integers)."})
    if raw.get("min_agreement") not in (None, ""):
        try:
            opts.min_agreement = float(raw["min_agreement"])
        except (TypeError, ValueError):
            raise ValidationError({"min_agreement": f"{raw['min_agreement']!r} is not a number."})
        if not -1.0 <= opts.min_agreement <= 1.0:
            raise ValidationError({"min_agreement": "Agreement lies between -1 and 1."})
    for name in ("only_accepted", "exclude_gold", "exclude_cant_judge", "include_imported"):
        if name in raw:
            setattr(opts, name, _bool(raw[name], name))
    for name, low, high in (("min_submissions", 1, 1000), ("chunk_size", 1, 100_000)):
        if raw.get(name) not in (None, ""):
            try:
                value = int(raw[name])
            except (TypeError, ValueError):
                raise ValidationError({name: f"{raw[name]!r} is not an integer."})
            if not low <= value <= high:
                raise ValidationError({name: f"Must be between {low} and {high}."})
            setattr(opts, name, value)
    if raw.get("test_ratio") not in (None, ""):
        try:
            opts.test_ratio = float(raw["test_ratio"])
        except (TypeError, ValueError):
            raise ValidationError({"test_ratio": f"{raw['test_ratio']!r} is not a number."})
        if not 0.0 <= opts.test_ratio <= 1.0:
            raise ValidationError({"test_ratio": "The test ratio lies between 0 and 1."})
    if "formats" in raw:
        opts.formats = _list(raw["formats"])
        bad = [f for f in opts.formats if f not in FORMATS]
        if bad or not opts.formats:
            raise ValidationError({"formats": f"Unknown format(s) {bad}; choose from {', '.join(FORMATS)}."})
        opts.formats = sorted(set(opts.formats), key=list(FORMATS).index)
    opts.file_type = _choice(raw.get("file_type", opts.file_type), "file_type", FILE_TYPES)
    opts.pairs = _choice(raw.get("pairs", opts.pairs), "pairs", PAIR_MODES)
    opts.margin = _choice(raw.get("margin", opts.margin), "margin", MARGIN_MODES)
    opts.merge = _choice(raw.get("merge", opts.merge), "merge", MERGE_MODES)
    if opts.date_from and opts.date_to and opts.date_from > opts.date_to:
        raise ValidationError({"date_to": "The end of the date range is before its start."})
    if opts.labelers:
        from annotate.models import Membership

        members = set(Membership.objects.filter(project=project, user_id__in=opts.labelers).values_list("user_id", flat=True))
        missing = [u for u in opts.labelers if u not in members]
        if missing:
            raise ValidationError({"labelers": f"User(s) {missing} are not members of this project."})
    return opts
