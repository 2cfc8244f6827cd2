from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Background jobs"

    def ready(self):
        from jobs.registry import register_job_kind

        register_job_kind("noop", label="Test job", handler="jobs.handlers.noop", queue="default", idempotent=True)
