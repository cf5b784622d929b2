"""The clinic's roles and the checks every app uses. Imports no app."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

RECEPTIONIST = "Receptionist"
THERAPIST = "Therapist"
CLINIC_ADMIN = "Clinic admin"
ROLES = (RECEPTIONIST, THERAPIST, CLINIC_ADMIN)
# Who works the front desk, and everyone on the staff.
FRONT_DESK = (RECEPTIONIST, CLINIC_ADMIN)
STAFF = ROLES

# The page each role lands on after login (URL names).
HOME_PAGES = {
    CLINIC_ADMIN: "clinic:dashboard",
    THERAPIST: "treatments:my-day",
    RECEPTIONIST: "scheduling:front-desk",
}


def roles_of(user):
    """The role names a user holds, cached on the user object for the request."""
    if not user.is_authenticated:
        return frozenset()
    if not hasattr(user, "_clinic_roles"):
        user._clinic_roles = frozenset(
            name for name in user.groups.values_list("name", flat=True) if name in ROLES
        )
    return user._clinic_roles


def therapists():
    """The active users who hold the therapist role, by name."""
    from django.contrib.auth import get_user_model

    return (
        get_user_model()
        .objects.filter(groups__name=THERAPIST, is_active=True)
        .order_by("last_name", "first_name", "pk")
    )


def display_name(user):
    return user.get_full_name() or user.get_username()


def has_role(user, *roles):
    return bool(roles_of(user) & set(roles))


def is_clinic_admin(user):
    return has_role(user, CLINIC_ADMIN)


def is_therapist(user):
    return has_role(user, THERAPIST)


def is_receptionist(user):
    return has_role(user, RECEPTIONIST)


def home_page_for(user):
    """The URL name of the user's home page, or None for a user with no role.

    A user with several roles lands on the widest one's page."""
    for role in (CLINIC_ADMIN, THERAPIST, RECEPTIONIST):
        if has_role(user, role):
            return HOME_PAGES[role]
    return None


def role_required(*roles):
    """View decorator: the user must hold one of the roles, or gets 403."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, *roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def grant_role_permissions(apps, role_permissions):
    """For data migrations: create the role groups and add the named model
    permissions ({role: ["app_label.codename", ...]}) to each.

    Permissions are normally created after all migrations have run, so this
    creates the missing ones first."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        # The models as they were at this migration, not as they are today.
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, names in role_permissions.items():
        group, _ = Group.objects.get_or_create(name=role)
        for name in names:
            app_label, codename = name.split(".")
            permission = Permission.objects.get(content_type__app_label=app_label, codename=codename)
            group.permissions.add(permission)
