from django.apps import AppConfig


class ClinicConfig(AppConfig):
    name = "clinic"

    def ready(self):
        from clinic import checks, signals  # noqa: F401  (registers the checks, connects the receivers)
