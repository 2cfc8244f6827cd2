"""Safe markdown and edit distance, the text helpers behind the workspace."""
import pytest
from django.core.exceptions import ValidationError

from annotate.services.text import demonstration_input_build, edit_distance_normalised, markdown_to_safe_html


@pytest.mark.parametrize("source, expected", [
    ("<img src=x onerror=alert(1)><script>alert(2)</script>",
     "<p>&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;</p>"),
    ("[x](javascript:alert(1))", '<p><a rel="noopener noreferrer nofollow">x</a></p>'),
    ("![i](https://evil.example/p.png)", "<p></p>"),
    ("```\n<b>&</b>\n```", "<pre><code>&lt;b&gt;&amp;&lt;/b&gt;\n</code></pre>"),
    ('<a href="https://x.org" onclick="y()">z</a>', "<p>&lt;a href=\"https://x.org\" onclick=\"y()\"&gt;z&lt;/a&gt;</p>"),
])
def test_markdown_never_lets_html_through(source, expected):
    assert markdown_to_safe_html(source) == expected


def test_markdown_keeps_the_formatting_labelers_need():
    html = markdown_to_safe_html("# T\n\n- **a**\n- `b`\n\n| h |\n|---|\n| c |\n\nline1\nline2")
    for part in ("<h1>T</h1>", "<li><strong>a</strong></li>", "<code>b</code>", "<td>c</td>", "line1<br>"):
        assert part in html


def test_huge_texts_render_without_the_cache():
    assert markdown_to_safe_html("w " * 30_000).startswith("<p>w w")


def test_edit_distance_is_normalised():
    assert edit_distance_normalised("same", "same\n") == 0.0
    assert edit_distance_normalised("abcd", "wxyz") == 1.0
    assert edit_distance_normalised("kitten", "sitting") == pytest.approx(3 / 7, abs=1e-4)
    assert edit_distance_normalised("", "") == 0.0


@pytest.mark.django_db
def test_suggestions_must_be_real_and_belong_to_the_task(labeler, project, make_ranking_task):
    from annotate.services.assignments import task_next_for_labeler
    from annotate.services.projects import candidate_create, prompt_create, task_create

    other = make_ranking_task(k=2)
    prompt = prompt_create(project=project, conversation="Write a haiku.")
    cand = candidate_create(prompt=prompt, text="Old pond, frog jumps in", source="m")
    task_create(project=project, prompt=prompt, kind="demonstration", candidates=[cand], priority=10)
    assignment = task_next_for_labeler(user=labeler, project=project)
    assert assignment.task.kind == "demonstration"
    with pytest.raises(ValidationError, match="not one of this task's candidates"):
        demonstration_input_build(user=labeler, assignment=assignment, text="x",
                                  suggestions=[{"candidate_id": other.candidate_ids()[0]}])
    with pytest.raises(ValidationError, match="does not exist or has not finished"):
        demonstration_input_build(user=labeler, assignment=assignment, text="x", suggestions=[{"job_id": 999}])
    with pytest.raises(ValidationError, match="at most one suggestion"):
        demonstration_input_build(user=labeler, assignment=assignment, text="x",
                                  suggestions=[{"candidate_id": cand.pk}, {"candidate_id": cand.pk}])
    data = demonstration_input_build(user=labeler, assignment=assignment, text="Old pond, a frog jumps in",
                                     suggestions=[{"candidate_id": cand.pk}], time_on_task_ms=10)
    assert data.suggestion_used and data.suggestion_candidate_id == cand.pk
    assert data.edit_distance == edit_distance_normalised("Old pond, frog jumps in", "Old pond, a frog jumps in")
