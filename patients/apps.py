from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "patients"

    def ready(self):
        from patients import signals  # noqa: F401  (connects the receivers)
