from django.urls import path

from . import api

urlpatterns = [
    path("separations/", api.SeparationListCreateView.as_view(), name="api-separations"),
    path("separations/<uuid:pk>/", api.SeparationDetailView.as_view(), name="api-separation-detail"),
    path(
        "separations/<uuid:pk>/approve/", api.SeparationApproveView.as_view(), name="api-separation-approve"
    ),
    path("separations/<uuid:pk>/reject/", api.SeparationRejectView.as_view(), name="api-separation-reject"),
    path("custody-transfers/", api.CustodyTransferView.as_view(), name="api-custody-transfers"),
    path("persons/<uuid:pk>/custody/", api.PersonCustodyView.as_view(), name="api-person-custody"),
    path(
        "reports/separated-children/",
        api.SeparatedChildrenReportView.as_view(),
        name="api-report-separated-children",
    ),
]
