"""Candidate generation in-process with a tiny random model and the bundled tokenizer:
prompts → K candidates each → ranking tasks; parameters and seeds recorded; idempotent;
duplicates re-sampled; selection and validation."""
import pytest
from django.core.exceptions import ValidationError

from annotate.models import Candidate, Task, TaskKind
from annotate.services.projects import project_create, prompt_create
from jobs.models import JobStatus
from jobs.services import job_run
from training.ml.bundled import tiny_random_model
from training.ml.generate import LocalGenerator, SamplingConfig
from training.services.generation import generation_start, prompts_select
from training.services.registry import model_register

pytestmark = pytest.mark.django_db(transaction=True)

TINY = {"max_new_tokens": 6, "temperature": 1.0, "top_p": 0.95}


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, bundled_tokenizer):
    """A randomly initialised Llama model with SmolLM2's tokenizer, saved like a trained one."""
    path = tmp_path_factory.mktemp("tiny-policy")
    tiny_random_model(len(bundled_tokenizer), seed=0).save_pretrained(path)
    bundled_tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir_b(tmp_path_factory, bundled_tokenizer):
    path = tmp_path_factory.mktemp("tiny-policy-b")
    tiny_random_model(len(bundled_tokenizer), seed=1).save_pretrained(path)
    bundled_tokenizer.save_pretrained(path)
    return path


@pytest.fixture
def tiny_model(tiny_model_dir):
    return model_register(name="tiny-policy", backend="transformers", location=str(tiny_model_dir))


def _prompts(project, n, tags=None):
    return [prompt_create(project=project, conversation=f"Question {i}: how do plants grow?", tags=tags or [])
            for i in range(n)]


def test_job_makes_ranking_tasks_with_recorded_model_params_and_seed(project, tiny_model):
    prompts = _prompts(project, 3)
    job = job_run(job_id=generation_start(project=project, model_versions=[tiny_model], k=3, params=TINY).pk)
    assert job.status == JobStatus.SUCCEEDED, job.error
    tasks = Task.objects.filter(project=project, kind=TaskKind.RANKING)
    assert sorted(t.prompt_id for t in tasks) == sorted(p.pk for p in prompts)
    for task in tasks:
        cands = [Candidate.objects.get(pk=i) for i in task.candidate_ids()]
        assert len(cands) == 3 and len({c.text for c in cands}) == 3
        assert all(c.text and c.model_version_id == tiny_model.pk and c.generation_job_id == job.pk for c in cands)
        assert all(c.seed is not None for c in cands) and len({c.seed for c in cands}) == 3
        assert cands[0].sampling_params["temperature"] == 1.0 and cands[0].sampling_params["top_p"] == 0.95
        assert cands[0].sampling_params["max_new_tokens"] == 6 and cands[0].sampling_params["backend"] == "transformers"
        assert task.generation_job_id == job.pk
    assert job.result["created_tasks"] == 3 and job.result["created_candidates"] == 9
    assert job.progress == 1.0 and job.progress_message == "done"  # the last "3/3 prompts" would be stale

    again = job_run(job_id=generation_start(project=project, model_versions=[tiny_model], k=3,
                                            prompts=prompts, params=TINY).pk)
    assert again.status == JobStatus.SUCCEEDED
    assert again.result["created_tasks"] == 0 and again.result["already_done"] == 3
    assert Task.objects.filter(project=project).count() == 3 and Candidate.objects.count() == 9


def test_candidate_is_reproducible_alone_from_its_seed(project, tiny_model, tiny_model_dir):
    """Each sample has its own seed and generator: the job's batch drawn again gives every candidate
    back, and one candidate drawn alone from its seed gives the same text each time. (Alone and in a
    batch agree up to float rounding across batch shapes, which a random tiny model's nearly flat
    distribution turns into other tokens, so that comparison is not made here.)"""
    _prompts(project, 2)
    job_run(job_id=generation_start(project=project, model_versions=[tiny_model], k=4, params=TINY).pk)
    candidates = list(Candidate.objects.order_by("pk"))
    prompts = list(dict.fromkeys(c.prompt for c in candidates))
    gen = LocalGenerator(tiny_model_dir)
    cfg = SamplingConfig(**TINY)
    drawn = dict(gen.sample([p.conversation for p in prompts],
                            [[c.seed for c in candidates if c.prompt == p] for p in prompts], cfg))
    for i, prompt in enumerate(prompts):
        assert [s.text for s in drawn[i]] == [c.text for c in candidates if c.prompt == prompt]
    cand = candidates[5]
    alone = [list(gen.sample([cand.prompt.conversation], [[cand.seed]], cfg))[0][1][0].text for _ in range(2)]
    assert alone[0] == alone[1]


def test_mixing_models_splits_k_between_them(project, tiny_model, tiny_model_dir_b):
    other = model_register(name="tiny-policy-b", backend="transformers", location=str(tiny_model_dir_b),
                           parent=tiny_model)
    _prompts(project, 2)
    job = job_run(job_id=generation_start(project=project, model_versions=[tiny_model, other], k=4, params=TINY).pk)
    assert job.status == JobStatus.SUCCEEDED, job.error
    for task in Task.objects.filter(kind=TaskKind.RANKING):
        models = [Candidate.objects.get(pk=i).model_version_id for i in task.candidate_ids()]
        assert sorted(models) == sorted([tiny_model.pk, tiny_model.pk, other.pk, other.pk])
    # The same prompts with only one of the models is another request: it makes new tasks.
    job = job_run(job_id=generation_start(project=project, model_versions=[other], k=2,
                                          prompts=project.prompts.all(), params=TINY).pk)
    assert job.result["created_tasks"] == 2 and job.result["already_done"] == 0


def test_exact_duplicates_are_resampled_then_the_prompt_is_skipped(project, tiny_model):
    """Greedy decoding answers the same every time: re-sampling is bounded and reported."""
    _prompts(project, 1)
    job = generation_start(project=project, model_versions=[tiny_model], k=3,
                           params={**TINY, "temperature": 0, "max_resample_tries": 2})
    job = job_run(job_id=job.pk)
    assert job.status == JobStatus.SUCCEEDED
    # 2 tries × the 2 (or 3, if the greedy answer is blank) bad slots
    assert job.result["resampled"] in (4, 6) and len(job.result["skipped_prompts"]) == 1
    assert "fewer than 2 distinct answers after 2 re-samples" in job.log_tail
    assert not Task.objects.filter(kind=TaskKind.RANKING).exists() and not Candidate.objects.exists()


def test_demonstration_tasks_get_the_first_candidate_as_suggestion(project, tiny_model):
    _prompts(project, 2)
    job = job_run(job_id=generation_start(project=project, model_versions=[tiny_model], k=2,
                                          params={**TINY, "demonstrations": True}).pk)
    demos = Task.objects.filter(kind=TaskKind.DEMONSTRATION)
    assert job.result["created_tasks"] == 4 and demos.count() == 2
    for demo in demos:
        ranking = Task.objects.get(kind=TaskKind.RANKING, prompt=demo.prompt)
        assert demo.candidate_ids() == ranking.candidate_ids()[:1]


def test_prompt_selection_modes(project, tiny_model):
    ps = _prompts(project, 3, tags=["coding"]) + [prompt_create(project=project, conversation="Tell a joke.", tags=["fun"])]
    assert prompts_select(project=project) == [p.pk for p in ps]
    assert prompts_select(project=project, mode="tag", tag="fun") == [ps[3].pk]
    sample = prompts_select(project=project, mode="sample", n=2, seed=7)
    assert len(sample) == 2 and set(sample) <= {p.pk for p in ps}
    assert sample == prompts_select(project=project, mode="sample", n=2, seed=7)
    assert prompts_select(project=project, mode="ids", prompt_ids=[ps[2].pk, ps[0].pk]) == [ps[2].pk, ps[0].pk]
    job_run(job_id=generation_start(project=project, model_versions=[tiny_model], k=2, prompts=ps[:2], params=TINY).pk)
    assert prompts_select(project=project, mode="unused") == [ps[2].pk, ps[3].pk]
    with pytest.raises(ValidationError, match="No prompts match"):
        prompts_select(project=project, mode="tag", tag="nope")
    with pytest.raises(ValidationError, match="Unknown selection 'newest'"):
        prompts_select(project=project, mode="newest")
    other = project_create(name="Other", task_kinds=["ranking"])
    with pytest.raises(ValidationError, match=r"are not in project 'Other'"):
        prompts_select(project=other, mode="ids", prompt_ids=[ps[0].pk])


def test_generation_start_validates(project, tiny_model, tiny_model_dir):
    _prompts(project, 1)
    with pytest.raises(ValidationError, match="K must be between 2 and 9, got 1"):
        generation_start(project=project, model_versions=[tiny_model], k=1, params={})
    reward = model_register(name="rm", backend="transformers", location=str(tiny_model_dir), kind="reward")
    with pytest.raises(ValidationError, match="rm is a reward model"):
        generation_start(project=project, model_versions=[reward], k=2, params={})
    with pytest.raises(ValidationError, match="top_p must be in"):
        generation_start(project=project, model_versions=[tiny_model], k=2, params={"top_p": 1.5})
    with pytest.raises(ValidationError, match="Choose at least one model"):
        generation_start(project=project, model_versions=[], k=2, params={})
    demo_only = project_create(name="Demos only", task_kinds=["demonstration"])
    with pytest.raises(ValidationError, match="does not collect rankings"):
        generation_start(project=demo_only, model_versions=[tiny_model], k=2, params={})
    ranking_only = project_create(name="Rankings only", task_kinds=["ranking"])
    prompt_create(project=ranking_only, conversation="Hi?")
    with pytest.raises(ValidationError, match="does not collect demonstrations"):
        generation_start(project=ranking_only, model_versions=[tiny_model], k=2, params={"demonstrations": True})


def test_worker_keeps_one_copy_of_each_model_within_the_memory_bound(tiny_model_dir, tiny_model_dir_b):
    from training.ml import generate as g

    g._LOADED.clear()
    first = g.generator_get(tiny_model_dir, max_bytes=10**9)
    assert g.generator_get(tiny_model_dir, max_bytes=10**9) is first  # reused across jobs
    second = g.generator_get(tiny_model_dir_b, max_bytes=first.nbytes + 1)  # room for one: the older goes
    assert g.loaded_models() == [str(tiny_model_dir_b)]
    assert g.generator_get(tiny_model_dir_b, max_bytes=10**9) is second
    g._LOADED.clear()


def test_model_output_with_nul_characters_is_stored(project):
    """A random (or broken) model can emit NUL, which PostgreSQL refuses in text and JSON: the
    sampler's output replaces it with U+FFFD, so the candidate, and a suggestion, can be kept."""
    from annotate.services.projects import candidate_create
    from training.ml.generate import Sample

    sample = Sample(text="before\x00after", seed=1, new_tokens=3, finish_reason="stop")
    assert sample.text == "before\ufffdafter"
    prompt = prompt_create(project=project, conversation="Say something odd.")
    candidate = candidate_create(prompt=prompt, text=sample.text, source="test")
    assert Candidate.objects.get(pk=candidate.pk).text == "before\ufffdafter"
    from jobs.models import Job

    job = Job.objects.create(kind="suggest", result={"text": sample.text, "partial": True})
    assert Job.objects.get(pk=job.pk).result["text"] == "before\ufffdafter"
