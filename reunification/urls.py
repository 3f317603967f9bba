app_name = "reunification"
urlpatterns: list = []
