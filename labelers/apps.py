from django.apps import AppConfig


class LabelersConfig(AppConfig):
    name = "labelers"
    verbose_name = "Labelers"

    def ready(self):
        from labelers import signals

        signals.connect()
