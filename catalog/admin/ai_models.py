"""Models in the admin: each with its prices inline (margins shown) and its price history."""

from functools import cached_property

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from artio.memo import memo_bump
from catalog import selectors
from catalog.models import AIModel, Price
from catalog.templatetags.catalog_extras import plain

from .forms import AIModelForm, PriceForm
from .prices import margin_html, price_form_save


class PriceInline(admin.TabularInline):
    model = Price
    form = PriceForm
    fields = ["variant", "unit", "kie_credits", "credits", "margin"]
    readonly_fields = ["margin"]
    extra = 0
    # Prices keep their history (PriceChange is protected); deactivate the model instead of deleting.
    can_delete = False

    @cached_property
    def catalog_settings(self):
        # The admin builds inlines per request: one read of the rates for all rows of the page.
        return selectors.catalog_settings_get()

    @admin.display(description="Margin per unit")
    def margin(self, price):
        if not price.pk:
            return "—"
        return margin_html(selectors.price_margin(price=price, settings=self.catalog_settings))


def _history_row(change):
    return (
        change.changed_at.strftime("%Y-%m-%d %H:%M"),
        change.price.variant or "(one price)",
        "—" if change.old_credits is None else change.old_credits,
        change.new_credits,
        "—" if change.old_kie_credits is None else plain(change.old_kie_credits),
        plain(change.new_kie_credits),
        change.changed_by or "system",
        change.note,
    )


@admin.register(AIModel)
class AIModelAdmin(admin.ModelAdmin):
    form = AIModelForm
    inlines = [PriceInline]
    list_display = ["name", "slug", "family", "kind", "min_plan", "price_summary", "is_active", "sort_order"]
    list_editable = ["is_active", "sort_order"]
    list_filter = ["family", "kind", "min_plan", "is_active", "content_filter_optional"]
    search_fields = ["slug", "name", "kie_model", "description"]
    readonly_fields = ["price_history"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "kie_model", "family", "kind", "description"]}),
        ("Availability", {"fields": ["min_plan", "is_active", "sort_order", "typical_seconds"]}),
        (
            "While paused (inactive)",
            {
                "fields": ["paused_reason", "use_instead"],
                "description": "Users who reach an inactive model with a reason are told it and sent "
                "to the model to use instead. Reactivating clears the reason.",
            },
        ),
        (
            "Input and pricing rules",
            {"fields": ["count_field", "variant_field", "images_per_task", "input_schema"]},
        ),
        ("Content filter", {"fields": ["content_filter_optional"]}),
        ("Price history", {"fields": ["price_history"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("prices")

    @admin.display(description="Retail credits")
    def price_summary(self, model):
        prices = sorted(model.prices.all(), key=lambda p: (p.credits, p.variant))
        return ", ".join(f"{p.variant}: {p.credits}" if p.variant else str(p.credits) for p in prices) or "—"

    @admin.display(description="Changes (newest first)")
    def price_history(self, model):
        if not model.pk:
            return "—"
        changes = selectors.price_history(model=model)
        if not changes:
            return "No price changes yet."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{} → {}</td><td>{} → {}</td><td>{}</td><td>{}</td></tr>",
            (_history_row(change) for change in changes),
        )
        return format_html(
            "<table><thead><tr><th>When (UTC)</th><th>Variant</th><th>Retail credits</th>"
            "<th>KIE credits</th><th>By</th><th>Note</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    def has_delete_permission(self, request, obj=None):
        # Price history protects a priced model; retire it by unticking "active".
        return False

    def save_model(self, request, obj, form, change):
        if obj.is_active:
            obj.paused_reason = ""  # back in service: no stale reason for the next pause
        super().save_model(request, obj, form, change)
        # Quotes and charges read models from memory (catalog.selectors.model_for_charge).
        memo_bump(selectors.CATALOG)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Price:
            return super().save_formset(request, form, formset, change)
        # Instead of formset.save(): each price goes through the services, which record history.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for price_form in formset.forms:
            if not price_form.has_changed() or not price_form.cleaned_data:
                continue
            price = price_form.instance
            price.model = form.instance
            is_new = not price.pk
            price = price_form_save(
                request, price, price_form, change=not is_new, note="Edited with the model"
            )
            if is_new:
                formset.new_objects.append(price)
            else:
                formset.changed_objects.append((price, price_form.changed_data))
        return None
