from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("apprehensions", api.ApprehensionViewSet, basename="apprehension")
router.register("persons", api.PersonViewSet, basename="person")
router.register("relationships", api.RelationshipViewSet, basename="relationship")
router.register("stations", api.StationViewSet, basename="station")

urlpatterns = router.urls
