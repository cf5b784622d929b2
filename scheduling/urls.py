from django.urls import path

from scheduling.views import booking, calendar, front_desk, patient_links, unsubscribe

app_name = "scheduling"
urlpatterns = [
    path("front-desk/", front_desk.front_desk, name="front-desk"),
    path("front-desk/day-sheet/", front_desk.day_sheet, name="day-sheet"),
    path("week/", front_desk.week, name="week"),
    path("appointments/<int:pk>/check-in/", front_desk.appointment_check_in, name="check-in"),
    path("appointments/<int:pk>/no-show/", front_desk.appointment_no_show, name="no-show"),
    path("appointments/<int:pk>/cancel/", front_desk.appointment_cancel, name="cancel"),
    path("patients/<int:patient_pk>/book/", booking.appointment_book, name="book"),
    path("appointments/<int:pk>/reschedule/", booking.appointment_reschedule, name="reschedule"),
    path("series/<int:pk>/cancel/", booking.series_cancel_rest, name="series-cancel"),
    path("appointments/<int:pk>/calendar.ics", calendar.appointment_ics, name="appointment-ics"),
    path("calendar/<str:token>.ics", calendar.calendar_feed, name="calendar-feed"),
    path("my-calendar/", calendar.my_calendar, name="my-calendar"),
    path("a/<str:token>/", patient_links.patient_link, name="patient-link"),
    path("unsubscribe/<str:token>/", unsubscribe.unsubscribe, name="unsubscribe"),
]
