from django.urls import path

from . import views

app_name = "apprehensions"
urlpatterns = [
    path("intake/", views.intake, name="intake"),
    path("apprehensions/", views.apprehension_list, name="apprehension_list"),
    path("apprehensions/<uuid:pk>/", views.apprehension_page, name="apprehension"),
    path("persons/", views.person_list, name="person_list"),
    path("persons/<uuid:pk>/", views.person_page, name="person"),
    path("persons/<uuid:pk>/edit/", views.person_edit, name="person_edit"),
    path("persons/<uuid:pk>/relationships/new/", views.relationship_add, name="relationship_add"),
    path("follow-ups/documents-not-named/", views.documents_not_named, name="documents_not_named"),
]
