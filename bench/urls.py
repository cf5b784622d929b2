from django.urls import path

from bench import views

app_name = "bench"
urlpatterns = [
    path("floor/", views.floor, name="floor"),
    path("plain/", views.plain, name="plain"),
]
