"""No prompt in two splits, in any format: a property over random projects."""
import json
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotate.models import Prompt
from exports.services.imports import import_file, import_options_check
from exports.tests.conftest import read_rows, run_export

words = st.text(alphabet="abcdefgh ", min_size=1, max_size=12).map(lambda s: s.strip() or "x")
comparison = st.tuples(st.integers(min_value=0, max_value=11), words, words, st.booleans())


@pytest.mark.django_db
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(comparison, min_size=1, max_size=25), test_ratio=st.sampled_from([0.0, 0.2, 0.5, 0.9, 1.0]),
       merge=st.sampled_from(["separate", "consensus"]))
def test_no_prompt_in_two_splits(tmp_path_factory, rows, test_ratio, merge):
    from annotate.services.projects import project_create

    project = project_create(name=f"p-{tmp_path_factory.mktemp('x').name}", task_kinds=["ranking"], k=2)
    lines = []
    for prompt_no, chosen, rejected, multi in rows:
        prompt = f"prompt {prompt_no}?"
        if multi:  # a multi-turn prompt, written as Ranklab exports them
            prompt = f"\n\nHuman: hi {prompt_no}\n\nAssistant: hello\n\nHuman: {prompt}\n\nAssistant: "
        lines.append(json.dumps({"prompt": prompt, "chosen": chosen + " A", "rejected": rejected + " B"}))
    path = tmp_path_factory.mktemp("in") / "prefs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    import_file(project=project, path=path, options=import_options_check(kind="preferences", fmt="trl"))

    snapshot, _ = run_export(project, formats=["ranked_groups", "preference", "preference_chat", "hh", "kto", "raw",
                                               "openai_preference"], test_ratio=test_ratio, merge=merge)
    expected = {p.pk: p.split(test_ratio) for p in Prompt.objects.filter(project=project)}
    by_text = {}
    for p in Prompt.objects.filter(project=project):
        from exports.writers.text import prompt_text, transcript

        by_text[prompt_text(p.conversation)] = expected[p.pk]
        by_text[json.dumps(p.conversation)] = expected[p.pk]
        by_text[transcript(p.conversation)] = expected[p.pk]
    seen = defaultdict(set)
    for split in ("train", "test"):
        for fmt, key in (("ranked_groups", lambda r: r["prompt_id"]), ("raw", lambda r: r["prompt_id"]),
                         ("preference", lambda r: r["prompt"]), ("kto", lambda r: r["prompt"]),
                         ("preference_chat", lambda r: json.dumps(r["prompt"])),
                         ("openai_preference", lambda r: json.dumps(r["input"]["messages"])),
                         ("hh", lambda r: r["chosen"].rsplit("\n\nAssistant:", 1)[0])):
            for row in read_rows(snapshot, fmt, splits=(split,)):
                k = key(row)
                seen[k].add(split)
                want = expected[k] if isinstance(k, int) else by_text[k]
                assert split == want, (fmt, k, split, want)
    assert all(len(splits) == 1 for splits in seen.values())
