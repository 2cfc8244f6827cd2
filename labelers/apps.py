from django.apps import AppConfig


class LabelersConfig(AppConfig):
    name = "labelers"
    verbose_name = "Labelers"
