from django.urls import path, re_path

import artio.converters  # noqa: F401 (registers the converters)

from . import api, health, library_views, studio, views

ONE = "generations/<public_id:public_id>/"
urlpatterns = [
    path("generate/", studio.generate, name="generate"),
    path("generate/quote/", studio.generate_quote, name="generate-quote"),
    path("generate/kept/<str:name>", studio.generate_kept, name="generate-kept"),
    path("compare/", studio.compare_page, name="compare"),
    path("compare/quote/", studio.compare_quote, name="compare-quote"),
    path("generations/", library_views.library_page, name="generation-list"),
    path("generations/collections/", library_views.collections_page, name="library-collections"),
    path("generations/collections/new/", library_views.collection_create, name="library-collection-create"),
    path("generations/collections/<int:pk>/", library_views.collection_page, name="library-collection"),
    path(
        "generations/collections/<int:pk>/rename/",
        library_views.collection_rename,
        name="library-collection-rename",
    ),
    path(
        "generations/collections/<int:pk>/delete/",
        library_views.collection_delete,
        name="library-collection-delete",
    ),
    path("generations/collections/add/", library_views.collection_add, name="library-collection-add"),
    path(
        "generations/collections/<int:pk>/remove/",
        library_views.collection_remove,
        name="library-collection-remove",
    ),
    path("generations/export/", library_views.export_request, name="library-export"),
    path(
        "generations/export/<str:public_id>/", library_views.export_download, name="library-export-download"
    ),
    path("generations/trash/", views.generation_trash, name="generation-trash"),
    path(ONE, views.generation_detail, name="generation-detail"),
    path(f"{ONE}card/", studio.generation_card, name="generation-card"),
    path(f"{ONE}rerun/", studio.generation_rerun, name="generation-rerun"),
    path(f"{ONE}cancel/", views.generation_cancel, name="generation-cancel"),
    path(f"{ONE}favourite/", library_views.favourite_toggle, name="library-favourite"),
    path(f"{ONE}delete/", views.generation_delete, name="generation-delete"),
    path(f"{ONE}restore/", views.generation_restore, name="generation-restore"),
    path(f"{ONE}forever/", views.generation_delete_forever, name="generation-forever"),
    path(f"{ONE}trash-preview/", views.generation_trash_preview, name="generation-trash-preview"),
    path("account/webhook-deliveries/", views.webhook_deliveries, name="webhook-deliveries"),
    path("generation/kie/callback/<str:token>/", views.kie_callback, name="generation-kie-callback"),
    path("healthz", health.healthz, name="healthz"),
]

# Mounted by the root URLconf when images are in local storage (with S3 the backend's URLs are used).
media_urlpatterns = [re_path(r"^media/(?P<path>.*)$", views.image_serve, name="generation-image")]

# Mounted under /api/v1/ by the root URLconf.
api_urlpatterns = [
    path("quotes", api.QuoteApi.as_view(), name="api-quotes"),
    path("generations", api.GenerationListCreateApi.as_view(), name="api-generations"),
    path(
        "generations/<public_id:public_id>", api.GenerationDetailApi.as_view(), name="api-generation-detail"
    ),
]
