from django.apps import AppConfig


class ClinicConfig(AppConfig):
    name = "clinic"

    def ready(self):
        from clinic import signals  # noqa: F401  (connects the receivers)
