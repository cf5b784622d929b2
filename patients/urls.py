from django.urls import path

from patients import views

app_name = "patients"
urlpatterns = [
    path("patients/", views.patient_list, name="list"),
    path("patients/register/", views.patient_register, name="register"),
    path("patients/<int:pk>/", views.patient_detail, name="detail"),
    path("patients/<int:pk>/edit/", views.patient_edit, name="edit"),
    path("patients/<int:pk>/archive/", views.patient_archive, name="archive"),
    path("patients/<int:pk>/restore/", views.patient_restore, name="restore"),
    path("patients/<int:pk>/screenings/new/", views.screening_new, name="screening-new"),
    path("patients/<int:pk>/screenings/<int:screening_pk>/", views.screening_detail, name="screening"),
    path(
        "patients/<int:pk>/screenings/<int:screening_pk>/edit/",
        views.screening_edit,
        name="screening-edit",
    ),
    path(
        "patients/<int:pk>/screenings/<int:screening_pk>/sign/",
        views.screening_sign,
        name="screening-sign",
    ),
    path("patients/<int:pk>/consents/new/", views.consent_new, name="consent-new"),
    path(
        "patients/<int:pk>/consents/<int:consent_pk>/withdraw/",
        views.consent_withdraw,
        name="consent-withdraw",
    ),
    path("patients/<int:pk>/assessments/new/", views.assessment_new, name="assessment-new"),
    path(
        "patients/<int:pk>/assessments/<int:assessment_pk>/",
        views.assessment_detail,
        name="assessment",
    ),
]
