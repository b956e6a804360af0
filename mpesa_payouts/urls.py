from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("callbacks/", include("payments.callbacks.urls")),
    path("api/", include("payments.api.urls")),
]
