from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("reports/court-status/", views.court_status, name="court_status"),
    path("reports/court-status/children/", views.court_children, name="court_children"),
]
