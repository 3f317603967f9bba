from django.urls import path

from . import views

app_name = "reunification"
urlpatterns = [
    path("reunification/queue/", views.queue, name="queue"),
    path("reunification/queue/claim-next/", views.claim_next, name="claim_next"),
    path("reunification/queue/items/<uuid:item_id>/complete/", views.item_complete, name="item_complete"),
    path("reunification/cases/", views.case_list, name="case_list"),
    path("reunification/cases/<uuid:case_id>/", views.case_detail, name="case_detail"),
    path("reunification/cases/<uuid:case_id>/steps/<str:step>/", views.step_update, name="step_update"),
    path("reunification/cases/<uuid:case_id>/close/", views.case_close, name="case_close"),
    path("reunification/cases/<uuid:case_id>/reassign/", views.case_reassign, name="case_reassign"),
    path("reunification/team/", views.team, name="team"),
    path("reunification/team/build/", views.team_build, name="team_build"),
    path("reunification/notifications/", views.notifications, name="notifications"),
    path("reunification/notifications/read/", views.notifications_read, name="notifications_read"),
]
