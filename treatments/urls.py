from django.urls import path

from treatments import views

app_name = "treatments"
urlpatterns = [
    path("my-day/", views.my_day, name="my-day"),
]
