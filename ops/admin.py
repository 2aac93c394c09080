"""Admin of ops: the operator overview (linked from the admin index), alerts and their settings."""

from django.contrib import admin
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html

from artio.admin_base import ReadOnlyAdmin
from catalog.admin.ai_models import AIModelAdmin
from catalog.models import AIModel

from .models import Alert, AlertSettings
from .views import overview_view, trial_view

# Extends generation's index (KIE status banner) with a link to the overview.
admin.site.index_template = "ops/admin/index.html"

_site_urls = admin.site.get_urls


def _urls_with_overview():
    # Staff only: admin_view sends anyone else to the sign-in page.
    overview = admin.site.admin_view(lambda request: overview_view(request, admin.site))
    return [path("ops/overview/", overview, name="ops_overview"), *_site_urls()]


admin.site.get_urls = _urls_with_overview


@admin.register(AlertSettings)
class AlertSettingsAdmin(admin.ModelAdmin):
    """One row: the thresholds of ops.alerts. Its list page opens the row itself."""

    fieldsets = [
        ("KIE balance", {"fields": ["kie_balance_threshold", "kie_min_days"]}),
        (
            "Failing models (jobs finished in the last hour)",
            {"fields": ["failure_rate_percent", "failure_min_jobs", "auto_pause"]},
        ),
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        settings = AlertSettings.load()
        return redirect(reverse("admin:ops_alertsettings_change", args=[settings.pk]))


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("resolved", "Resolved")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    """Alerts are raised and closed by the scheduled check (ops.alerts); staff read them here."""

    list_display = ["opened_at", "kind", "subject", "message", "state", "last_seen_at", "emailed_at"]
    list_filter = [OpenFilter, "kind"]
    search_fields = ["subject", "message"]
    date_hierarchy = "opened_at"

    @admin.display(description="state")
    def state(self, alert):
        if alert.is_open:
            return format_html("<strong>{}</strong>", "open")
        return f"resolved {alert.resolved_at:%Y-%m-%d %H:%M}"


# The catalogue's model admin, with a "Test generation" button and action. The run needs generation's
# pipeline, which catalog may not import; ops sits above both.
admin.site.unregister(AIModel)


@admin.register(AIModel)
class AIModelWithTrialAdmin(AIModelAdmin):
    change_form_template = "ops/admin/aimodel_change_form.html"
    actions = ["test_generation"]

    def get_urls(self):
        trial = self.admin_site.admin_view(
            lambda request, model_id: trial_view(request, self.admin_site, model_id)
        )
        return [
            path("<int:model_id>/test-generation/", trial, name="catalog_aimodel_trial"),
            *super().get_urls(),
        ]

    @admin.action(description="Run a test generation (one, charged to your account)")
    def test_generation(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one model to test.", level="warning")
            return None
        return redirect(reverse("admin:catalog_aimodel_trial", args=[queryset.get().pk]))
