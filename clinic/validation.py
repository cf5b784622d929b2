"""Turning a model's ValidationError into words for a domain error: what a
service refuses is shown to a person, never raised as a server error."""

from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, ValidationError


def error_messages(instance, error: ValidationError) -> list[str]:
    """Each message, led by the field's name where it has one."""
    if not hasattr(error, "error_dict"):
        return list(error.messages)
    messages = []
    for name, errors in error.message_dict.items():
        try:
            label = "" if name == NON_FIELD_ERRORS else str(instance._meta.get_field(name).verbose_name)
        except FieldDoesNotExist:
            label = name
        messages += [f"{label[:1].upper()}{label[1:]}: {message}" if label else message for message in errors]
    return messages
