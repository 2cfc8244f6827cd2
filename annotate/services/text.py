"""Text helpers for the labeler workspace: safe markdown and edit distance.

Prompts, model output and guidelines are untrusted. `markdown_to_safe_html` never lets raw HTML
through: python-markdown's HTML parsing is switched off (so `<script>` shows as text) and the
result is cleaned again by nh3 with a short allow-list, as defence in depth.

    >>> markdown_to_safe_html("**hi** <b>x</b>")
    '<p><strong>hi</strong> &lt;b&gt;x&lt;/b&gt;</p>'
"""
from __future__ import annotations

import functools
import threading

import markdown
import nh3
from django.core.exceptions import ValidationError
from rapidfuzz.distance import Levenshtein

ALLOWED_TAGS = {
    "a", "p", "br", "hr", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "del",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}, "code": {"class"}}
URL_SCHEMES = {"http", "https", "mailto"}
MAX_MARKDOWN_CHARS = 200_000
MAX_CACHED_CHARS = 20_000


_local = threading.local()


def _renderer() -> markdown.Markdown:
    """One Markdown instance per thread, reset between documents: building one (loading its
    extensions) costs more than converting a typical answer."""
    md = getattr(_local, "md", None)
    if md is None:
        md = markdown.Markdown(extensions=["fenced_code", "tables", "sane_lists", "nl2br"], output_format="html")
        # Raw HTML in the source is shown as text, never parsed as markup.
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        _local.md = md
    return md.reset()


@functools.lru_cache(maxsize=1024)
def _render(text: str) -> str:
    html = _renderer().convert(text)
    return nh3.clean(
        html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


def markdown_to_safe_html(text: str) -> str:
    """Markdown → HTML that is safe to insert into a page (links get rel=noopener). Results
    are cached by text: candidates and prompts never change, and a task is shown to several
    labelers and reloaded."""
    if not text:
        return ""
    text = str(text)[:MAX_MARKDOWN_CHARS]
    # Only ordinary lengths are cached, so that a few huge texts cannot fill the memory.
    return _render(text) if len(text) <= MAX_CACHED_CHARS else _render.__wrapped__(text)


def edit_distance_normalised(original: str, edited: str) -> float:
    """Levenshtein distance between two texts divided by the longer length: 0.0 when the
    suggestion was kept as is, 1.0 when nothing of it survived. Whitespace at both ends is
    ignored (a trailing newline is not an edit)."""
    a, b = (original or "").strip(), (edited or "").strip()
    if not a and not b:
        return 0.0
    return round(float(Levenshtein.normalized_distance(a, b)), 4)


def word_count(text: str) -> int:
    return len((text or "").split())


def _suggestion_text(*, user, assignment, source: dict) -> tuple[str, int | None]:
    """The text of a suggestion the labeler inserted, from the server's own records (never
    from the client): a candidate of the task, or a finished "suggest" job of this user."""
    from annotate.models import Candidate

    if not isinstance(source, dict):
        raise ValidationError("Each suggestion must be an object with candidate_id or job_id.")
    if source.get("candidate_id") is not None:
        try:
            cid = int(source["candidate_id"])
        except (TypeError, ValueError):
            raise ValidationError(f"suggestion: {source['candidate_id']!r} is not a candidate id.") from None
        cand = Candidate.objects.filter(pk=cid, tasks=assignment.task_id).first()
        if cand is None:
            raise ValidationError("The suggestion is not one of this task's candidates.")
        return cand.text, cand.pk
    if source.get("job_id") is not None:
        from jobs.models import Job

        job = Job.objects.filter(pk=source["job_id"], created_by=user, kind="suggest", status="succeeded").first()
        text = (job.result or {}).get("text") if job else None
        if not isinstance(text, str):
            raise ValidationError("That model suggestion does not exist or has not finished.")
        return text, None
    raise ValidationError("Each suggestion must name a candidate_id or a job_id.")


def demonstration_input_build(*, user, assignment, text: str = "", conversation=None, suggestions=None,
                              time_on_task_ms: int = 0):
    """What the page or the API posted → DemonstrationInput, with the edit distance computed
    here from the suggestion's real text.

    `suggestions` lists what the labeler inserted: for a demonstration task at most one
    {"candidate_id"}; for a dialogue one {"turn": i, "candidate_id" | "job_id"} per assistant
    turn that started from a suggestion. A dialogue's edit distance is the mean over those turns.
    """
    from annotate.models import TaskKind
    from annotate.services.submissions import DemonstrationInput

    suggestions = list(suggestions or [])
    if not isinstance(time_on_task_ms, int) or time_on_task_ms < 0:
        raise ValidationError("time_on_task_ms must be a non-negative integer.")
    distances, first_candidate = [], None
    if assignment.task.kind == TaskKind.DIALOGUE:
        if not isinstance(conversation, list):
            raise ValidationError("A dialogue is posted as a list of {role, content} turns.")
        for source in suggestions:
            turn = source.get("turn") if isinstance(source, dict) else None
            if not isinstance(turn, int) or not 0 <= turn < len(conversation):
                raise ValidationError(f"suggestion: turn {turn!r} is not in the conversation.")
            msg = conversation[turn]
            if not isinstance(msg, dict) or msg.get("role") != "assistant":
                raise ValidationError(f"suggestion: turn {turn} is not an assistant turn.")
            original, cid = _suggestion_text(user=user, assignment=assignment, source=source)
            distances.append(edit_distance_normalised(original, str(msg.get("content", ""))))
            first_candidate = first_candidate or cid
    else:
        if len(suggestions) > 1:
            raise ValidationError("A demonstration starts from at most one suggestion.")
        for source in suggestions:
            original, first_candidate = _suggestion_text(user=user, assignment=assignment, source=source)
            distances.append(edit_distance_normalised(original, text))
    return DemonstrationInput(
        text=text or "", conversation=conversation, suggestion_used=bool(distances),
        suggestion_candidate_id=first_candidate,
        edit_distance=round(sum(distances) / len(distances), 4) if distances else None,
        time_on_task_ms=time_on_task_ms,
    )
