"""Admin of ops: the operator overview (linked from the admin index), alerts and their settings, and
reconciliation mismatches, which staff resolve with a note."""

from django import forms
from django.contrib import admin
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

from artio.admin_base import ReadOnlyAdmin
from catalog.admin.ai_models import AIModelAdmin
from catalog.models import AIModel
from catalog.money import usd_dollars
from catalog.templatetags.catalog_extras import plain

from .models import Alert, AlertSettings, Mismatch
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


class MismatchResolveForm(forms.ModelForm):
    """Staff edit only the resolution: tick "resolved" and say why; who and when are recorded."""

    resolved = forms.BooleanField(
        required=False, help_text="Tick once dealt with (e.g. refund claimed from KIE)."
    )

    class Meta:
        model = Mismatch
        fields = ["resolution_note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["resolved"].initial = self.instance.resolved_at is not None

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("resolved") and not (cleaned.get("resolution_note") or "").strip():
            self.add_error("resolution_note", "Say how it was resolved.")
        return cleaned


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", "Unresolved"), ("no", "Resolved")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "no":
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


@admin.register(Mismatch)
class MismatchAdmin(admin.ModelAdmin):
    form = MismatchResolveForm
    # Money and resolution in one column each, so every column fits 1280 px beside the filters.
    list_display = ("day", "kind", "subject", "model", "at_issue", "resolved")
    list_filter = (OpenFilter, "kind", "day", "model")
    search_fields = ("subject", "kie_task_ids", "generation__public_id")
    list_select_related = ("model", "resolved_by")
    date_hierarchy = "day"
    readonly_fields = (
        "day",
        "kind",
        "subject",
        "generation_link",
        "model",
        "kie_task_ids",
        "billed_credits",
        "expected_credits",
        "amount_credits",
        "amount_usd",
        "detail",
        "found_at",
        "updated_at",
        "resolved_at",
        "resolved_by",
    )
    fieldsets = [
        (None, {"fields": readonly_fields[:11]}),
        ("Resolution", {"fields": ("resolved", "resolution_note", "resolved_at", "resolved_by")}),
        ("Seen", {"fields": ("found_at", "updated_at")}),
    ]

    @admin.display(description="at issue", ordering="amount_usd")
    def at_issue(self, obj):
        return format_html(
            "{}<br><small>{} KIE credits</small>", usd_dollars(obj.amount_usd), plain(obj.amount_credits)
        )

    @admin.display(description="resolved", ordering="resolved_at")
    def resolved(self, obj):
        if obj.resolved_at is None:
            return "—"
        by = obj.resolved_by.email if obj.resolved_by else "—"
        return format_html(
            "{}<br><small>by {}</small>", date_format(obj.resolved_at, "SHORT_DATETIME_FORMAT"), by
        )

    @admin.display(description="generation")
    def generation_link(self, obj):
        if obj.generation_id is None:
            return "—"
        url = reverse("admin:generation_generation_change", args=[obj.generation_id])
        return format_html('<a href="{}">{}</a>', url, obj.subject)

    def has_add_permission(self, request):
        return False  # only reconciliation finds mismatches

    def has_delete_permission(self, request, obj=None):
        return False  # kept: resolve with a note instead

    def save_model(self, request, obj, form, change):
        resolved = form.cleaned_data.get("resolved")
        if resolved and obj.resolved_at is None:
            obj.resolved_at, obj.resolved_by = timezone.now(), request.user
        elif not resolved:
            obj.resolved_at, obj.resolved_by = None, None
        obj.save()
