from allauth.account.decorators import secure_admin_login
from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

import billing.urls
import catalog.urls
import generation.urls

from . import views
from .api_errors import api_not_found

api_v1 = [
    *catalog.urls.api_urlpatterns,
    *billing.urls.api_urlpatterns,
    *generation.urls.api_urlpatterns,
    # Last: anything unmatched, even an id with a slash or a newline in it, gets the JSON 404.
    re_path(r"^(?P<rest>[\s\S]*)$", api_not_found),
]

# Staff sign in through allauth's login and its rate limits; the admin's own form has none.
admin.site.login = secure_admin_login(admin.site.login)
# Staff should know whose admin they are in (the default says "Django administration").
admin.site.site_header = admin.site.site_title = "Artio admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include(catalog.urls.urlpatterns)),
    path("", include(billing.urls.urlpatterns)),
    path("", include(generation.urls.urlpatterns)),
    path("", include(views.urlpatterns)),
]


if settings.STORAGES["default"]["BACKEND"].endswith("FileSystemStorage"):
    # Local storage (make run, small installs): Django serves result images itself, and only those
    # whose generation is not in the trash. With S3 (AWS_STORAGE_BUCKET_NAME) the backend's URLs are
    # used; a CDN or signed URLs govern access, and the files go at the trash purge.
    urlpatterns += generation.urls.media_urlpatterns
