"""The pure writers: pairs from tiers (hand-checked), margins, the KTO rule, text forms, and
byte-identical sinks."""
import gzip
import json

import pytest

from exports.writers import FORMATS, schemas
from exports.writers.groups import kto_rows
from exports.writers.preference import hh_rows, preference_chat_rows, preference_lines, preference_rows
from exports.writers.records import Group, WriteOptions
from exports.writers.sink import Sink, file_sha256
from exports.writers.text import hh_transcript, prompt_text


def group(tiers, k=4, ratings=None, strength=None, conversation=None):
    return Group(id="r1", task_id=1, prompt_id=1, conversation=conversation or [{"role": "user", "content": "Q?"}],
                 split="train", completions=[f"c{i}" for i in range(k)], candidate_ids=list(range(10, 10 + k)),
                 model_versions=[None] * k, tiers=tiers, ratings=ratings or [None] * k,
                 flags=[[] for _ in range(k)], preference_strength=strength)


def pair_texts(g, **opts):
    return [(r["chosen"], r["rejected"]) for r in preference_rows(g, WriteOptions(**opts))]


def test_all_pairs_of_a_strict_ranking_are_c_k_2():
    assert pair_texts(group([[2], [0], [3], [1]])) == [
        ("c2", "c0"), ("c2", "c3"), ("c2", "c1"), ("c0", "c3"), ("c0", "c1"), ("c3", "c1")]


def test_tied_pairs_are_dropped_from_all_pairs():
    # c0 and c3 tie in the middle tier: 6 pairs minus the tie = 5.
    assert pair_texts(group([[2], [0, 3], [1]])) == [
        ("c2", "c0"), ("c2", "c3"), ("c2", "c1"), ("c0", "c1"), ("c3", "c1")]


def test_a_ranking_that_ties_everything_gives_no_pair():
    assert pair_texts(group([[0, 1, 2, 3]])) == []
    assert pair_texts(group([[0, 1], [2, 3]])) == [("c0", "c2"), ("c0", "c3"), ("c1", "c2"), ("c1", "c3")]


def test_best_vs_rest_and_a_tied_top():
    assert pair_texts(group([[2], [0, 3], [1]]), pairs="best_vs_rest") == [("c2", "c0"), ("c2", "c3"), ("c2", "c1")]
    assert pair_texts(group([[0, 1], [2], [3]]), pairs="best_vs_rest") == [
        ("c0", "c2"), ("c0", "c3"), ("c1", "c2"), ("c1", "c3")]


def test_margins_from_ratings_and_from_strength():
    g = group([[2], [0], [1]], k=3, ratings=[5, None, 7])
    rows = list(preference_rows(g, WriteOptions(margin="ratings")))
    assert [r["margin"] for r in rows] == [2.0, 0.0, 0.0]  # 7-5; c1 unrated → 0.0
    rows = list(preference_rows(g, WriteOptions(margin="strength")))
    assert [r["margin"] for r in rows] == [1.0, 2.0, 1.0]  # tier distance
    pair = group([[1], [0]], k=2, strength="slightly_better")
    assert [r["margin"] for r in preference_rows(pair, WriteOptions(margin="strength"))] == [1.0]
    assert "margin" not in next(preference_rows(pair, WriteOptions()))


@pytest.mark.parametrize("margin", ["none", "ratings", "strength"])
def test_the_fast_path_writes_the_same_bytes_as_encoding_rows(margin):
    g = group([[2], [0, 3], [1]], ratings=[3, None, 6, 1],
              conversation=[{"role": "system", "content": "Be \"brief\"."}, {"role": "user", "content": "Ünïcode ✓\n?"}])
    g.completions = ["tab\there", 'quote "x"', "emoji 🙂", "back\\slash"]
    opts = WriteOptions(margin=margin)
    encoded = [json.dumps(r, ensure_ascii=False) for r in preference_rows(g, opts)]
    assert list(preference_lines(g, opts)) == encoded


def test_kto_rule_uses_ratings_then_ranks():
    opts = WriteOptions(rating_min=1, rating_max=7)
    rated = group([[0], [1], [2], [3]], ratings=[6, 4, 3, None])
    labels = {r["completion"]: r["label"] for r in kto_rows(rated, opts)}
    assert labels == {"c0": True, "c2": False, "c3": False}  # 4 is the middle: left out; c3 is last → False
    unrated = group([[1], [0, 2], [3]])
    assert {r["completion"]: r["label"] for r in kto_rows(unrated, opts)} == {"c1": True, "c3": False}
    assert list(kto_rows(group([[0, 1, 2, 3]]), opts)) == []


def test_prompt_text_and_hh_transcripts():
    single = [{"role": "user", "content": "Hi"}]
    multi = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
             {"role": "user", "content": "Joke?"}]
    assert prompt_text(single) == "Hi"
    assert prompt_text(multi) == "\n\nHuman: Hi\n\nAssistant: Hello.\n\nHuman: Joke?\n\nAssistant: "
    assert prompt_text(multi) + "No." == hh_transcript(multi, "No.")
    rows = list(hh_rows(group([[0], [1]], k=2, conversation=multi), WriteOptions()))
    assert rows == [{"chosen": hh_transcript(multi, "c0"), "rejected": hh_transcript(multi, "c1")}]
    chat = next(preference_chat_rows(group([[0], [1]], k=2), WriteOptions()))
    assert chat["chosen"] == [{"role": "assistant", "content": "c0"}] and chat["prompt"][0]["role"] == "user"


@pytest.mark.parametrize("file_type", ["jsonl", "jsonl.gz", "parquet"])
def test_sinks_are_byte_identical_and_hash_what_they_wrote(tmp_path, file_type):
    table = schemas()["preference"]
    rows = [{"prompt": f"p{i}", "chosen": "a" * i, "rejected": "b"} for i in range(5000)]
    infos = []
    for name in ("one", "two"):
        sink = Sink(tmp_path / name / f"train.{file_type}", file_type, table)
        for row in rows:
            sink.write(row)
        infos.append(sink.close())
        assert infos[-1]["sha256"] == file_sha256(tmp_path / name / f"train.{file_type}")
    assert infos[0] == infos[1] and infos[0]["rows"] == 5000
    if file_type == "jsonl.gz":
        with gzip.open(tmp_path / "one" / "train.jsonl.gz", "rt") as f:
            assert json.loads(f.readline()) == rows[0]


def test_every_format_has_a_parquet_schema():
    table = schemas(margin=True)
    for fmt in FORMATS.values():
        assert fmt.schema in table, fmt.name
    assert "margin" in table["preference"].names
