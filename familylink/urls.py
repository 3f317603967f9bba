from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from familylink.common import views as common_views
from familylink.common.api import TokenView

api_v1: list[URLPattern | URLResolver] = [
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("", include("apprehensions.api_urls")),
    path("", include("apprehensions.linkage.api_urls")),
    path("", include("separations.api_urls")),
    path("", include("reunification.api_urls")),
    path("", include("audit.api_urls")),
]

urlpatterns = [
    path("", common_views.home, name="home"),
    path("health/", common_views.health, name="health"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("apprehensions.urls")),
    path("", include("apprehensions.linkage.urls")),
    path("", include("separations.urls")),
    path("", include("reunification.urls")),
    path("", include("audit.urls")),
]
