from django.urls import path

from treatments import views

app_name = "treatments"
urlpatterns = [
    path("my-day/", views.my_day, name="my-day"),
    path("patients/<int:patient_pk>/plans/new/", views.plan_new, name="plan-new"),
    path("plans/<int:pk>/", views.plan_detail, name="plan"),
    path("plans/<int:pk>/edit/", views.plan_edit, name="plan-edit"),
    path("plans/<int:pk>/start/", views.plan_activate, name="plan-activate"),
    path("plans/<int:pk>/end/", views.plan_end, name="plan-end"),
    path("plans/<int:pk>/book/", views.plan_book_series, name="plan-book"),
    path("visits/<int:appointment_pk>/chart/", views.chart_start, name="chart-start"),
    path("charts/<int:pk>/", views.chart_detail, name="chart"),
    path("charts/<int:pk>/edit/", views.chart_edit, name="chart-edit"),
    path("charts/<int:pk>/sign/", views.chart_sign, name="chart-sign"),
    path("charts/<int:pk>/amend/", views.chart_amend, name="chart-amend"),
    path("check-in/<str:token>/", views.checkin, name="check-in"),
    path("check-ins/<int:pk>/handled/", views.checkin_acknowledge, name="check-in-handled"),
]
