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
]
