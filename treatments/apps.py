from django.apps import AppConfig


class TreatmentsConfig(AppConfig):
    name = "treatments"

    def ready(self):
        from treatments import signals  # noqa: F401  (connects the receivers)
