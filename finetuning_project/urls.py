from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(("finetunings.api.urls", "api"), namespace="api")),
    # The browsable API's "Log in" link (staff accounts; see StaffSessionAuthentication).
    path("api-auth/", include("rest_framework.urls")),
]

handler404 = "finetunings.api.exceptions.page_not_found"
handler500 = "finetunings.api.exceptions.server_error"
