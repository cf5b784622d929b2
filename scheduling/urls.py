from django.urls import path

from scheduling import views

app_name = "scheduling"
urlpatterns = [
    path("front-desk/", views.front_desk, name="front-desk"),
]
