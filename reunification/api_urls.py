from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("reunification-cases", api.ReunificationCaseViewSet, basename="reunification-case")

urlpatterns = [
    *router.urls,
    path("worklists/<str:day>/", api.WorklistView.as_view(), name="worklist-day"),
    path("worklists/<str:day>/claim-next/", api.WorklistClaimNextView.as_view(), name="worklist-claim-next"),
    path(
        "worklist-items/<str:item_id>/claim/", api.WorklistItemClaimView.as_view(), name="worklist-item-claim"
    ),
    path(
        "worklist-items/<str:item_id>/complete/",
        api.WorklistItemCompleteView.as_view(),
        name="worklist-item-complete",
    ),
]
