from django.apps import AppConfig


class LabelersConfig(AppConfig):
    name = "labelers"
    verbose_name = "Labelers"

    def ready(self):
        from annotate.registry import register_quality
        from labelers import signals

        signals.connect()
        # The submission and lease services score answers and decide screenings through these,
        # without annotate importing labelers.
        register_quality(scored="labelers.services.quality.ranking_quality_record",
                         screening_done="labelers.services.quality.qualification_maybe_decide",
                         screening_decide="labelers.services.quality.qualification_evaluate")
