from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "exports"
    verbose_name = "Exports and imports"

    def ready(self):
        from jobs.registry import register_job_kind

        # Exports start over in a fresh temporary directory, so a rerun is safe.
        register_job_kind("export", label="Export snapshot", handler="exports.services.snapshots.export_job",
                          queue="exports", idempotent=True)
        # An import commits once at its end; a rerun after a lost worker could import twice.
        register_job_kind("import", label="Import", handler="exports.services.imports.import_job", queue="exports",
                          idempotent=False)
