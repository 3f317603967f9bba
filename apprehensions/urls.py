app_name = "apprehensions"
urlpatterns: list = []
