"""Admin for generations: read-mostly, with two actions that go through the services."""

from decimal import Decimal

from django.contrib import admin, messages
from django.utils.html import format_html

from artio.admin_base import ReadOnlyAdmin
from catalog.money import usd_dollars
from catalog.selectors import catalog_settings_get

from . import kie, pipeline, services
from .models import DispatchState, Generation, GenerationImage, KieTask, WebhookDelivery

# The admin index shows KIE's credit balance and the dispatch-paused banner (template tag
# `kie_status` in generation/templatetags/generation_admin.py).
admin.site.index_template = "generation/admin/index.html"


class GenerationImageInline(admin.TabularInline):
    model = GenerationImage
    extra = 0
    can_delete = False
    fields = ("position", "preview", "file", "width", "height", "content_type", "bytes")
    readonly_fields = fields

    @admin.display(description="image")
    def preview(self, obj):
        if not obj.thumbnail:
            return "—"
        return format_html('<img src="{}" alt="" class="admin-thumb">', obj.thumbnail.url)

    def has_add_permission(self, request, obj=None):
        return False


class KieTaskInline(admin.TabularInline):
    """Every KIE task sent or seen for the generation: more than one means KIE may have billed twice."""

    model = KieTask
    extra = 0
    can_delete = False
    fields = ("task_id", "state", "credits_billed", "cost_usd", "source", "first_seen_at", "completed_at")
    readonly_fields = fields
    verbose_name_plural = "KIE tasks"

    def has_add_permission(self, request, obj=None):
        return False


class PossibleDuplicateFilter(admin.SimpleListFilter):
    """Generations sent to KIE again while KIE may already have had them: we may have paid twice."""

    title = "possible duplicate sends"
    parameter_name = "possible_duplicate"

    def lookups(self, request, model_admin):
        return [("yes", "Sent again (KIE may bill twice)"), ("no", "Sent once")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(possible_duplicate_sends__gt=0)
        if self.value() == "no":
            return queryset.filter(possible_duplicate_sends=0)
        return queryset


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = (
        "public_id",
        "owner",
        "model",
        "status",
        "credits_charged",
        "refunded",
        "source",
        "kie_task_id",
        "created_at",
        "duration",
    )
    list_filter = (
        "status",
        "refunded",
        PossibleDuplicateFilter,
        "source",
        "model",
        ("deleted_at", admin.EmptyFieldListFilter),
    )
    search_fields = ("public_id", "kie_task_id", "owner__email", "idempotency_key")
    list_select_related = ("owner", "model")
    date_hierarchy = "created_at"
    inlines = [KieTaskInline, GenerationImageInline]
    actions = ["recheck_with_kie", "fail_and_refund"]
    fields = (
        ("public_id", "status", "source"),
        ("owner", "account"),
        ("model", "price"),
        ("unit_credits", "images_requested", "discount_percent", "credits_charged"),
        ("refunded", "refunded_credits"),
        ("kie_credits_billed", "kie_cost_usd"),
        "realised_margin",
        "input",
        ("kie_task_id", "dispatch_attempts", "priority"),
        ("sending_at", "possible_duplicate_sends"),
        ("error_code", "error_message"),
        ("created_at", "submitted_at", "completed_at", "last_checked_at", "images_stored_at"),
        ("webhook_url", "idempotency_key"),
        ("deleted_at", "purged_at"),
        "kie_record",
    )
    readonly_fields = [f for row in fields for f in (row if isinstance(row, tuple) else (row,))]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # Viewable; every change goes through the actions, which call the services.
        return False

    @admin.display(description="realised margin")
    def realised_margin(self, obj):
        """Credits kept at the base retail rate, minus what KIE billed for every task of the job."""
        kept = obj.credits_charged - obj.refunded_credits
        revenue = kept * catalog_settings_get().usd_per_credit
        # Jobs sent before tasks were kept have only their own task's bill.
        bills = [t.cost_usd for t in obj.kie_tasks.all()] or ([obj.kie_cost_usd] if obj.kie_task_id else [])
        cost = sum((c for c in bills if c is not None), Decimal(0))
        text = (
            f"{usd_dollars(revenue - cost)}: {kept} credits kept ({obj.credits_charged} charged − "
            f"{obj.refunded_credits} refunded), worth {usd_dollars(revenue)}, − KIE cost {usd_dollars(cost)} "
            f"for {len(bills)} KIE task(s)"
        )
        unbilled = sum(1 for c in bills if c is None)
        return text + (f"; {unbilled} not billed yet" if unbilled else "")

    @admin.display(description="time")
    def duration(self, obj):
        if obj.completed_at and obj.created_at:
            return f"{(obj.completed_at - obj.created_at).total_seconds():.0f} s"
        return "—"

    @admin.action(description="Re-check with KIE", permissions=["view"])
    def recheck_with_kie(self, request, queryset):
        for generation in queryset:
            try:
                status = services.generation_recheck(generation_id=generation.pk)
            except kie.KieError as exc:
                self.message_user(request, f"{generation}: KIE error {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{generation}: {status or 'not sent to KIE yet'}")

    @admin.action(description="Fail and refund", permissions=["fail"])
    def fail_and_refund(self, request, queryset):
        done = sum(services.generation_cancel(generation_id=g.pk) for g in queryset)
        self.message_user(
            request, f"{done} generation(s) failed and refunded; finished ones were left alone."
        )

    def has_fail_permission(self, request):
        return request.user.is_superuser or request.user.has_perm("generation.change_generation")


@admin.register(DispatchState)
class DispatchStateAdmin(admin.ModelAdmin):
    list_display = ("__str__", "reason", "paused_at", "dispatcher_until")
    readonly_fields = ("paused", "reason", "paused_at", "dispatcher_id", "dispatcher_until")
    actions = ["resume"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Resume dispatch to KIE")
    def resume(self, request, queryset):
        pipeline.dispatch_resume()
        self.message_user(request, "Dispatch resumed; queued generations are being sent.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """The log of partner webhook attempts: read-only."""

    list_display = [
        "created_at",
        "generation_public_id",
        "event_type",
        "attempt",
        "status_code",
        "succeeded",
        "duration_ms",
    ]
    list_filter = ["succeeded", "event_type"]
    search_fields = ["generation_public_id", "account__user__email", "url"]


@admin.register(KieTask)
class KieTaskAdmin(ReadOnlyAdmin):
    """Every KIE task sent or seen, with KIE's bill: the raw material of ops' reconciliation."""

    list_display = [
        "task_id",
        "generation",
        "kie_model",
        "state",
        "credits_billed",
        "cost_usd",
        "source",
        "first_seen_at",
    ]
    list_filter = [("generation", admin.EmptyFieldListFilter), "state", "source"]
    search_fields = ["task_id", "generation__public_id"]
    list_select_related = ["generation"]
    date_hierarchy = "first_seen_at"
