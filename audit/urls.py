from django.urls import path

from . import views

app_name = "audit"
urlpatterns = [
    path("audit/access-log/", views.access_log, name="access_log"),
    path("audit/checkpoints/<int:pk>.json", views.checkpoint_download, name="checkpoint_download"),
    path("audit/history/<str:label>/<uuid:pk>/", views.record_history, name="record_history"),
]
