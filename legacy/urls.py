from django.urls import path

from . import views

app_name = "legacy"

urlpatterns = [
    path("imports/", views.batch_list, name="batch_list"),
    path("imports/template.<str:fmt>", views.template_download, name="template"),
    path("imports/<uuid:pk>/", views.batch_detail, name="batch_detail"),
    path("imports/<uuid:pk>/progress/", views.batch_progress_partial, name="batch_progress"),
    path("imports/<uuid:pk>/confirm/", views.batch_confirm_view, name="batch_confirm"),
    path("imports/<uuid:pk>/check/", views.batch_check_view, name="batch_check"),
    path("imports/uploads/<uuid:pk>/", views.upload_detail, name="upload_detail"),
    path("imports/uploads/<uuid:pk>/progress/", views.upload_progress_partial, name="upload_progress"),
    path("imports/rows/<uuid:pk>/", views.row_fix, name="row_fix"),
    path("imports/rows/<uuid:pk>/set-aside/", views.row_set_aside_view, name="row_set_aside"),
    path("imports/rows/<uuid:pk>/put-back/", views.row_put_back_view, name="row_put_back"),
]
