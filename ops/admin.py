"""Admin of the operations app: reconciliation mismatches, which staff resolve with a note."""

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from .models import Mismatch


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


@admin.register(Mismatch)
class MismatchAdmin(admin.ModelAdmin):
    form = MismatchResolveForm
    list_display = (
        "day",
        "kind",
        "subject",
        "model",
        "amount_credits",
        "amount_usd",
        "resolved_at",
        "resolved_by",
    )
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
