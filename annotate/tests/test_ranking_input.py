"""The submit body's fast reader (annotate.apis._ranking_input_fast) against the serializer it
stands in for: whenever it accepts a body, the serializer accepts it too, with the same values."""
from dataclasses import asdict

from hypothesis import example, given, settings
from hypothesis import strategies as st

from annotate.apis import RankingSubmitApi, _ranking_input_fast, ranking_input

texts = st.one_of(st.text(max_size=30), st.sampled_from(["", "  ", " padded ", "a\x00b", "\ud800", "x" * 2001]))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**12), st.floats(allow_nan=False), texts)
ints = st.one_of(st.integers(-3, 50), st.booleans(), st.sampled_from(["3", 3.0, 2.5, None]))
values = {
    "outcome": st.one_of(st.sampled_from(["ranked", "none_acceptable", "cant_judge", "", "best", 1]), scalars),
    "tiers": st.one_of(st.lists(st.lists(ints, max_size=4), max_size=4),
                       st.lists(st.lists(st.integers(1, 9), min_size=1, max_size=3), max_size=4), scalars),
    "ratings": st.one_of(st.dictionaries(st.sampled_from(["1", "2", "x"]), ints, max_size=3), scalars),
    "flags": st.one_of(st.dictionaries(st.sampled_from(["1", "2"]), st.one_of(st.lists(texts, max_size=3), scalars),
                                       max_size=2), scalars),
    "cant_judge_reason": st.one_of(texts, scalars),
    "preference_strength": st.one_of(st.sampled_from(["", "better", "much_better", "best"]), scalars),
    "rationale": st.one_of(texts, st.just("y" * 10001), scalars),
    "time_on_task_ms": st.one_of(st.integers(-10, 10), st.integers(0, 10**9), ints, scalars),
    "unknown_key": scalars,
}
valid = {
    "outcome": st.sampled_from(["ranked", "none_acceptable", "cant_judge"]),
    "tiers": st.lists(st.lists(st.integers(1, 9), min_size=1, max_size=3), max_size=4),
    "ratings": st.dictionaries(st.sampled_from(["1", "2"]), st.integers(1, 7), max_size=2),
    "flags": st.dictionaries(st.sampled_from(["1", "2"]), st.lists(st.sampled_from(["harmful", " x "]), max_size=2),
                             max_size=2),
    "cant_judge_reason": st.text(max_size=20),
    "preference_strength": st.sampled_from(["", "better"]),
    "rationale": st.text(max_size=20),
    "time_on_task_ms": st.integers(0, 10**6),
}


@st.composite
def one_field_off(draw):
    """A valid body with one field (or none) replaced by a random value."""
    body = draw(st.fixed_dictionaries({}, optional=valid))
    name = draw(st.sampled_from([None, *values]))
    if name is not None:
        body[name] = draw(values[name])
    return body


bodies = st.one_of(st.fixed_dictionaries({}, optional=values), one_field_off())


def _serializer(body):
    serializer = RankingSubmitApi.InputSerializer(data=body)
    return serializer.is_valid(), serializer


@settings(max_examples=1500, deadline=None)
@given(bodies)
@example({"time_on_task_ms": -1})
@example({"preference_strength": "best"})
@example({"outcome": "ranked", "flags": {"1": [" "]}})
@example({"rationale": "y" * 10001})
@example({"tiers": [[True]]})
def test_fast_reader_agrees_with_the_serializer(body):
    fast = _ranking_input_fast(body)
    valid, serializer = _serializer(body)
    if fast is not None:
        assert valid, (body, serializer.errors)
        assert asdict(fast) == dict(serializer.validated_data)
    elif not valid:
        # Bodies the fast reader leaves to the serializer still get its errors.
        try:
            ranking_input(body)
        except Exception as exc:  # noqa: BLE001
            assert exc.__class__.__name__ == "ValidationError"
            assert exc.detail == serializer.errors
        else:
            raise AssertionError(f"accepted an invalid body {body!r}")


def test_what_the_workspace_sends_takes_the_fast_path():
    bodies = [
        {"tiers": [[3], [1, 2], [4]], "time_on_task_ms": 5200},
        {"outcome": "ranked", "tiers": [[2], [1]], "ratings": {"1": 6, "2": 3}, "flags": {"2": ["hallucination"]},
         "preference_strength": "better", "rationale": " the second one invents a date ", "time_on_task_ms": 0},
        {"outcome": "cant_judge", "cant_judge_reason": "needs medical knowledge", "time_on_task_ms": 900},
        {"outcome": "none_acceptable", "flags": {"1": ["harmful"], "2": []}},
        {},
    ]
    for body in bodies:
        fast = _ranking_input_fast(body)
        assert fast is not None, body
        valid, serializer = _serializer(body)
        assert valid and asdict(fast) == dict(serializer.validated_data)
    assert _ranking_input_fast({"tiers": [[1]], "time_on_task_ms": "5"}) is None  # the serializer converts it
    assert ranking_input({"tiers": [[1]], "time_on_task_ms": "5"}).time_on_task_ms == 5
