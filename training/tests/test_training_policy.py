"""train_policy jobs (DPO is in test_rounds.py's full round): RLOO and PPO-ptx through Ranklab's
job path — export job → policy job with a reward model → a registered policy whose lineage
names its parent, export, job and reward model; and the checks that refuse a bad start."""
import pytest
from django.core.exceptions import ValidationError

from exports.models import ExportSnapshot
from exports.services.snapshots import export_start
from jobs.models import JobStatus
from jobs.services import job_run
from training.models import ModelKind, ModelVersion
from training.services.registry import model_register
from training.services.training_jobs import training_start

pytestmark = pytest.mark.django_db(transaction=True)  # job_run's heartbeat thread writes too


@pytest.fixture
def tiny_rm(tmp_path, bundled_tokenizer, tiny_base):
    import torch
    from transformers import LlamaForSequenceClassification

    from training.ml.bundled import tiny_random_model

    torch.manual_seed(1)
    config = tiny_random_model(len(bundled_tokenizer)).config
    config.num_labels, config.pad_token_id = 1, bundled_tokenizer.pad_token_id or bundled_tokenizer.eos_token_id
    path = tmp_path / "tiny-rm"
    LlamaForSequenceClassification(config).save_pretrained(path)
    bundled_tokenizer.save_pretrained(path)
    return model_register(name="tiny-rm", kind=ModelKind.REWARD, backend="transformers", location=str(path))


def _export(project, formats):
    job = job_run(job_id=export_start(project=project, options={"formats": formats}).pk)
    assert job.status == JobStatus.SUCCEEDED, job.error
    return ExportSnapshot.objects.get(job=job)


@pytest.fixture
def labelled(project, labeler, make_ranking_task):
    from annotate.services.assignments import task_next_for_labeler
    from annotate.services.projects import prompt_create, task_create
    from annotate.services.submissions import DemonstrationInput, demonstration_submit

    for i in range(6):
        make_ranking_task(k=3, texts=[f"Sure: {i}." + " ok" * n for n in range(3)])
        prompt = prompt_create(project=project, conversation=f"Say hello, number {i}.")
        task_create(project=project, prompt=prompt, kind="demonstration")
    while (assignment := task_next_for_labeler(user=labeler, project=project)) is not None:
        if assignment.task.kind == "demonstration":
            demonstration_submit(user=labeler, assignment_id=assignment.pk, data=DemonstrationInput(text="Hello!"))
        else:
            ids = assignment.task.candidate_ids()
            from annotate.services.submissions import RankingInput, ranking_submit

            ranking_submit(user=labeler, assignment_id=assignment.pk, data=RankingInput(tiers=[[c] for c in ids]))
    return project


def _run_policy(project, export, base, rm, method, config):
    job = training_start(kind="train_policy", method=method, project=project, export=export, base_model=base,
                         reward_model=rm, config=config)
    job = job_run(job_id=job.pk)
    assert job.status == JobStatus.SUCCEEDED, job.error + job.log_tail
    model = ModelVersion.objects.get(produced_by_job=job)
    assert model.kind == ModelKind.POLICY and model.parent == base and model.export_snapshot == export
    assert model.config["method"] == method and model.config["reward_model_id"] == rm.pk
    assert job.result["model_version_id"] == model.pk
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(model.location).config.vocab_size == 49152
    return job, model


def test_rloo_and_ppo_ptx_jobs_register_policies(labelled, tiny_base, tiny_rm):
    export = _export(labelled, ["ranked_groups", "sft_messages"])
    job, _ = _run_policy(labelled, export, tiny_base, tiny_rm, "rloo", {
        "max_steps": 2, "batch_size": 4, "num_generations": 2, "max_completion_length": 6, "rm_max_length": 64,
        "learning_rate": 1e-3})
    assert {"loss", "reward"} <= set(job.metrics["series"]), job.metrics
    job, model = _run_policy(labelled, export, tiny_base, tiny_rm, "ppo", {
        "steps": 2, "batch_size": 4, "mini_batch_size": 2, "ppo_epochs": 1, "max_new_tokens": 6, "ptx_coef": 0.5,
        "ptx_batch_size": 2, "rm_max_length": 64, "save_steps": 0})
    series = job.metrics["series"]
    assert {"reward", "kl", "policy_loss", "value_loss", "entropy", "clip_fraction", "ptx_loss"} <= set(series)
    assert len(series["reward"]) == 2
    assert model.config["training_config"]["reward_model_path"] == tiny_rm.location


def test_policy_training_is_checked_before_it_is_queued(project, labelled, tiny_base, tiny_rm):
    export = _export(labelled, ["ranked_groups"])
    start = dict(kind="train_policy", project=labelled, export=export, base_model=tiny_base)
    with pytest.raises(ValidationError, match="Unknown policy method 'sft'; choose from dpo, ppo, rloo"):
        training_start(method="sft", **start)
    with pytest.raises(ValidationError, match="PPO needs a reward model"):
        training_start(method="ppo", **start)
    with pytest.raises(ValidationError, match="tiny-base is not a reward model"):
        training_start(method="rloo", reward_model=tiny_base, **start)
    with pytest.raises(ValidationError, match="Policy training starts from a policy model"):
        training_start(method="dpo", **{**start, "base_model": tiny_rm})
    with pytest.raises(ValidationError, match="has none: collect demonstrations, or set ptx_coef to 0"):
        training_start(method="ppo", reward_model=tiny_rm, config={"ptx_coef": 1.0}, **start)
    with pytest.raises(ValidationError, match="set by Ranklab: ptx_path, reward_model_path"):
        training_start(method="ppo", reward_model=tiny_rm, config={"ptx_path": "/etc/passwd",
                                                                   "reward_model_path": "/x"}, **start)
    with pytest.raises(ValidationError, match="Unknown training options: steps"):
        training_start(method="dpo", config={"steps": 3}, **start)

    from annotate.services.projects import project_create

    empty = project_create(name="Empty", task_kinds=["ranking"], k=2)
    nothing = _export(empty, ["ranked_groups"])
    with pytest.raises(ValidationError, match="has no comparisons: label some ranking tasks or import HH-RLHF"):
        training_start(kind="train_policy", method="dpo", project=empty, export=nothing, base_model=tiny_base)
