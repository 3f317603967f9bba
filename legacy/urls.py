from django.urls import path

app_name = "legacy"

urlpatterns: list = []
