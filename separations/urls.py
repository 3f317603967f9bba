from django.urls import path

from . import views

app_name = "separations"

urlpatterns = [
    path("separations/", views.separation_list, name="list"),
    path("approvals/separations/", views.separation_queue, name="queue"),
    path("separations/new/", views.separation_new, name="new"),
    path("separations/<uuid:pk>/", views.separation_detail, name="detail"),
    path("separations/<uuid:pk>/decide/", views.separation_decide, name="decide"),
    path("custody-transfers/new/", views.custody_transfer_new, name="custody_new"),
    path("reports/separated-children/", views.separated_children_report, name="report"),
]
