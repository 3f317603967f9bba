from django.urls import path

from . import views

app_name = "linkage"
urlpatterns = [
    path("link-candidates/", views.queue, name="queue"),
    path("link-candidates/<uuid:pk>/", views.candidate_page, name="candidate"),
    path("link-candidates/<uuid:pk>/decide/", views.decide, name="decide"),
    path("link-candidates/<uuid:pk>/unmerge/", views.unmerge, name="unmerge"),
]
