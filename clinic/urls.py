import os

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from clinic import accounts, views

clinic_patterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/monthly/", views.monthly_report, name="monthly-report"),
    path("figures/mine/", views.my_figures, name="my-figures"),
    path("figures/front-desk/", views.front_desk_figures, name="front-desk-figures"),
    path("no-role/", views.no_role, name="no-role"),
    path("accounts/two-factor/", accounts.two_factor, name="two-factor"),
    path("accounts/two-factor/setup/", accounts.two_factor_setup, name="two-factor-setup"),
    path("accounts/two-factor/verify/", accounts.two_factor_verify, name="two-factor-verify"),
    path("accounts/two-factor/recovery-codes/", accounts.recovery_codes, name="recovery-codes"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("", include((clinic_patterns, "clinic"))),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("", include("patients.urls")),
    path("", include("scheduling.urls")),
    path("", include("treatments.urls")),
    path("admin/", admin.site.urls),
]

if os.environ.get("BENCH") == "1":
    # make bench's floor page and plain response (bench/views.py); never in production.
    urlpatterns.append(path("bench/", include("bench.urls")))
