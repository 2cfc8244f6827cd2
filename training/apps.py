from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training and models"

    def ready(self):
        from annotate.registry import register_suggestion_starter
        from exports.registry import register_model_lookups
        from jobs.registry import job_finished_hook_add, job_links_add, register_job_kind
        from training.services.rounds.flow import round_job_finished

        register_job_kind("convert_model", label="Convert model", handler="training.handlers.convert_model",
                          queue="generation", idempotent=True)
        register_job_kind("generate", label="Generate candidates", handler="training.services.generation.run.generate",
                          queue="generation", idempotent=True)
        register_job_kind("suggest", label="Model suggestion", handler="training.services.generation.suggest.suggest",
                          queue="generation", idempotent=True, time_limit=600)
        labels = {"train_reward": "Train reward model", "train_sft": "Supervised fine-tuning",
                  "train_policy": "Train policy"}
        for kind, label in labels.items():
            register_job_kind(kind, label=label, handler="training.services.training_jobs.run_training_job",
                              queue="training", idempotent=True)
        register_job_kind("evaluate", label="Evaluate", handler="training.services.evaluation.evaluate",
                          queue="training", idempotent=True)
        register_job_kind("prioritise", label="Prioritise the queue", handler="training.services.rounds.queue.prioritise",
                          queue="training", idempotent=True)
        job_finished_hook_add(round_job_finished)
        job_links_add(_produced_models)
        # Exports name the models that wrote candidates, and imports link them, without importing training.
        register_model_lookups(by_name="training.services.registry.models_by_name",
                               names="training.services.registry.model_names")
        # The workspace's "suggest" button, without annotate importing training.
        register_suggestion_starter("training.services.generation.start.suggestion_for_labeler")


def _produced_models(job) -> list[tuple[str, str]]:
    from django.urls import reverse

    from training.models import ModelVersion

    return [(m.name, reverse("training:model-detail", args=[m.pk]))
            for m in ModelVersion.objects.filter(produced_by_job=job).order_by("pk")]
