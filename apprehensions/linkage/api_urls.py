from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("link-candidates", api.LinkCandidateViewSet, basename="link-candidate")

urlpatterns = router.urls
