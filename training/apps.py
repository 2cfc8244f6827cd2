from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training and models"

    def ready(self):
        from training.services.jobs import register_job_kind

        register_job_kind("noop", handler="training.handlers.noop", queue="default", idempotent=True)
        register_job_kind("convert_model", handler="training.handlers.convert_model", queue="generation", idempotent=True)
        register_job_kind("generate", handler="training.services.generation.run.generate", queue="generation", idempotent=True)
        register_job_kind("suggest", handler="training.services.generation.suggest.suggest", queue="generation", idempotent=True, time_limit=600)
        for kind in ("train_reward", "train_sft", "train_policy"):
            register_job_kind(kind, handler="training.services.training_jobs.run_training_job", queue="training",
                              idempotent=True)
        register_job_kind("evaluate", handler="training.services.evaluation.evaluate", queue="training",
                          idempotent=True)
        register_job_kind("prioritise", handler="training.services.rounds.queue.prioritise", queue="training",
                          idempotent=True)
        from training.services.jobs import JOB_FINISHED_HOOKS
        from training.services.rounds.flow import round_job_finished

        if round_job_finished not in JOB_FINISHED_HOOKS:
            JOB_FINISHED_HOOKS.append(round_job_finished)
