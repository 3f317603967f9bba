from django.urls import path

from . import api

urlpatterns = [
    path("reports/separated-children/series/", api.SeparatedSeriesApi.as_view(), name="api-report-series"),
    path("reports/court-status/", api.CourtStatusApi.as_view(), name="api-report-court-status"),
]
