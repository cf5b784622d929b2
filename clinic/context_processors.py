from django.conf import settings

from clinic import roles


def clinic(request):
    user = getattr(request, "user", None)
    user_roles = roles.roles_of(user) if user is not None else frozenset()
    return {
        "clinic_name": settings.CLINIC_NAME,
        "clinic_phone": settings.CLINIC_PHONE,
        "user_roles": user_roles,
        "is_receptionist": roles.RECEPTIONIST in user_roles,
        "is_therapist": roles.THERAPIST in user_roles,
        "is_clinic_admin": roles.CLINIC_ADMIN in user_roles,
    }
