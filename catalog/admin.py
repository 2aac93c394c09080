"""The pricing manager's admin: models with their prices, margins, bulk repricing, history, cost table.

Every price edit (change form, list-editable column, model inline, bulk action) goes through
catalog.services, which writes a PriceChange row in the same transaction.
"""

import json
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import DecimalField, ExpressionWrapper, F, Value
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from . import selectors, services
from .models import AIModel, CatalogSettings, CreditPack, Price, PriceChange
from .templatetags.catalog_extras import plain

MONEY = DecimalField(max_digits=16, decimal_places=5)
CREDIT_ERRORS = {
    "invalid": "Retail credits must be a whole number of credits (no fractions).",
    "min_value": "Retail credits must be at least 1.",
    "required": "Enter the retail price in credits.",
}


def _usd(amount, places=None):
    """Format dollars: cents when exact, else to a hundredth of a cent (KIE bills fractions)."""
    if amount is None:
        return "—"
    amount = Decimal(amount)
    if places is None:
        places = 2 if amount == amount.quantize(Decimal("0.01")) else 4
    return f"${amount.quantize(Decimal(1).scaleb(-places)):,}"


# --- Forms ---------------------------------------------------------------------------------------


class PrettyJSONField(forms.JSONField):
    """A JSON field shown indented, so staff can read and edit a schema."""

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False, cls=self.encoder)


class AIModelForm(forms.ModelForm):
    input_schema = PrettyJSONField(
        widget=forms.Textarea(attrs={"rows": 24, "cols": 100, "style": "font-family: monospace"}),
        help_text=(
            'JSON Schema (draft 2020-12) of the model\'s input: "type": "object" with "properties". '
            'Mark fields KIE wants as strings with "x-kie-type": "string".'
        ),
    )

    class Meta:
        model = AIModel
        fields = [
            "slug",
            "kie_model",
            "name",
            "family",
            "kind",
            "description",
            "min_plan",
            "is_active",
            "sort_order",
            "count_field",
            "variant_field",
            "images_per_task",
            "typical_seconds",
            "input_schema",
        ]

    def clean(self):
        cleaned = super().clean()
        schema = cleaned.get("input_schema")
        if "input_schema" in cleaned:
            try:
                services.input_schema_clean(
                    schema=schema,
                    count_field=cleaned.get("count_field", ""),
                    variant_field=cleaned.get("variant_field", ""),
                )
            except ValidationError as exc:
                self.add_error("input_schema", exc)
        return cleaned


class PriceForm(forms.ModelForm):
    credits = forms.IntegerField(
        label="Retail credits",
        min_value=1,
        error_messages=CREDIT_ERRORS,
        help_text="What users pay, per unit.",
    )
    kie_credits = forms.DecimalField(
        label="KIE credits",
        min_value=0,
        max_digits=10,
        decimal_places=3,
        error_messages={"min_value": "KIE credits cannot be negative."},
        help_text="What KIE charges us, per unit.",
    )

    class Meta:
        model = Price
        fields = ["model", "variant", "unit", "kie_credits", "credits"]


class PriceListForm(forms.ModelForm):
    """The changelist's editable column: retail credits only."""

    credits = forms.IntegerField(
        label="Retail credits",
        min_value=1,
        error_messages=CREDIT_ERRORS,
        widget=forms.NumberInput(attrs={"style": "width: 6em"}),
    )

    class Meta:
        model = Price
        fields = ["credits"]


class FactorForm(forms.Form):
    factor = forms.DecimalField(
        min_value=Decimal("0.001"),
        max_digits=8,
        decimal_places=3,
        help_text="Retail = KIE credits × factor, rounded up to a whole credit. 2 doubles KIE's price.",
        error_messages={"min_value": "The factor must be greater than 0."},
    )


# --- Shared pieces ---------------------------------------------------------------------------------


def _save_price(request, price, form, *, change, note):
    """Save a price form through the services: money changes are recorded in PriceChange."""
    data = form.cleaned_data
    if not change:
        return services.price_create(
            model=price.model,
            variant=price.variant,
            kie_credits=price.kie_credits,
            credits=price.credits,
            unit=price.unit,
            changed_by=request.user,
            note=note,
        )
    if {"variant", "unit"} & set(form.changed_data):
        services.price_details_set(price=price, variant=price.variant, unit=price.unit)
    services.price_update(
        price=price,
        credits=data.get("credits"),
        kie_credits=data.get("kie_credits"),
        changed_by=request.user,
        note=note,
    )
    return price


def _margin_html(price, settings):
    margin = selectors.price_margin(price=price, settings=settings)
    if margin.below_cost:
        return format_html('<strong style="color:#b42318">▼ {} below cost</strong>', _usd(-margin.margin_usd))
    return format_html("{} ({}%)", _usd(margin.margin_usd), margin.margin_percent)


class PriceInline(admin.TabularInline):
    model = Price
    form = PriceForm
    fields = ["variant", "unit", "kie_credits", "credits", "margin"]
    readonly_fields = ["margin"]
    extra = 0
    # Prices keep their history (PriceChange is protected); deactivate the model instead of deleting.
    can_delete = False

    @admin.display(description="Margin per unit")
    def margin(self, price):
        if not price.pk:
            return "—"
        return _margin_html(price, selectors.catalog_settings_get())


# --- AIModel ---------------------------------------------------------------------------------------


@admin.register(AIModel)
class AIModelAdmin(admin.ModelAdmin):
    form = AIModelForm
    inlines = [PriceInline]
    list_display = ["name", "slug", "family", "kind", "min_plan", "price_summary", "is_active", "sort_order"]
    list_editable = ["is_active", "sort_order"]
    list_filter = ["family", "kind", "min_plan", "is_active"]
    search_fields = ["slug", "name", "kie_model", "description"]
    readonly_fields = ["price_history"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "kie_model", "family", "kind", "description"]}),
        ("Availability", {"fields": ["min_plan", "is_active", "sort_order", "typical_seconds"]}),
        (
            "Input and pricing rules",
            {"fields": ["count_field", "variant_field", "images_per_task", "input_schema"]},
        ),
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
            (
                (
                    c.changed_at.strftime("%Y-%m-%d %H:%M"),
                    c.price.variant or "(one price)",
                    "—" if c.old_credits is None else c.old_credits,
                    c.new_credits,
                    "—" if c.old_kie_credits is None else plain(c.old_kie_credits),
                    plain(c.new_kie_credits),
                    c.changed_by or "system",
                    c.note,
                )
                for c in changes
            ),
        )
        return format_html(
            "<table><thead><tr><th>When (UTC)</th><th>Variant</th><th>Retail credits</th>"
            "<th>KIE credits</th><th>By</th><th>Note</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    def has_delete_permission(self, request, obj=None):
        # Price history protects a priced model; retire it by unticking "active".
        return False

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
            price = _save_price(request, price, price_form, change=not is_new, note="Edited with the model")
            if is_new:
                formset.new_objects.append(price)
            else:
                formset.changed_objects.append((price, price_form.changed_data))
        return None


# --- Price -----------------------------------------------------------------------------------------


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    form = PriceForm
    change_list_template = "admin/catalog/price/change_list.html"
    list_display = [
        "model_name",
        "variant",
        "unit",
        "kie_credits_display",
        "kie_cost",
        "credits",
        "retail_value",
        "margin",
        "min_plan",
    ]
    list_display_links = ["model_name"]
    list_editable = ["credits"]
    list_filter = ["model__family", "model__kind", "model__min_plan", "model__is_active", "unit"]
    search_fields = ["model__slug", "model__name", "variant"]
    list_select_related = ["model"]
    actions = ["set_retail_from_kie"]
    list_per_page = 100

    def get_queryset(self, request):
        settings = selectors.catalog_settings_get()
        retail = ExpressionWrapper(F("credits") * Value(settings.usd_per_credit), output_field=MONEY)
        cost = ExpressionWrapper(F("kie_credits") * Value(settings.usd_per_kie_credit), output_field=MONEY)
        # Annotated so the money columns sort in the database (below-cost prices first by margin).
        return (
            super()
            .get_queryset(request)
            .select_related("model")
            .annotate(retail_usd=retail, cost_usd=cost)
            .annotate(margin_usd=ExpressionWrapper(F("retail_usd") - F("cost_usd"), output_field=MONEY))
        )

    def get_changelist_form(self, request, **kwargs):
        return PriceListForm

    def get_readonly_fields(self, request, obj=None):
        # A price belongs to its model for life: history and generations point at it.
        return ["model"] if obj else []

    @admin.display(description="Model", ordering="model__sort_order")
    def model_name(self, price):
        return format_html("{}<br><small>{}</small>", price.model.name, price.model.slug)

    @admin.display(description="Plan", ordering="model__min_plan")
    def min_plan(self, price):
        return price.model.get_min_plan_display()

    @admin.display(description="KIE credits", ordering="kie_credits")
    def kie_credits_display(self, price):
        return plain(price.kie_credits)

    @admin.display(description="KIE cost", ordering="cost_usd")
    def kie_cost(self, price):
        return _usd(price.cost_usd)

    @admin.display(description="Retail value", ordering="retail_usd")
    def retail_value(self, price):
        return _usd(price.retail_usd)

    @admin.display(description="Margin per unit", ordering="margin_usd")
    def margin(self, price):
        margin = Decimal(price.margin_usd)
        if margin < 0:
            return format_html('<strong style="color:#b42318">▼ {} below cost</strong>', _usd(-margin))
        retail = Decimal(price.retail_usd)
        percent = (margin * 100 / retail).quantize(Decimal("0.1")) if retail else Decimal(0)
        return format_html("{} ({}%)", _usd(margin), percent)

    def save_model(self, request, obj, form, change):
        note = "Edited in the price list" if set(form.fields) == {"credits"} else "Edited in the admin"
        _save_price(request, obj, form, change=change, note=note)

    def has_delete_permission(self, request, obj=None):
        # PriceChange rows protect prices; a model is retired by deactivating it.
        return False

    @admin.action(description="Set retail = KIE credits × factor (rounded up)", permissions=["change"])
    def set_retail_from_kie(self, request, queryset):
        prices = list(queryset.order_by("model__sort_order", "model__slug", "variant"))
        form = FactorForm(request.POST if ("apply" in request.POST or "preview" in request.POST) else None)
        previews = None
        if form.is_bound and form.is_valid():
            factor = form.cleaned_data["factor"]
            if "apply" in request.POST:
                changed = services.prices_set_retail_from_kie(
                    prices=prices, factor=factor, changed_by=request.user
                )
                self.message_user(
                    request,
                    f"Set retail = KIE credits × {factor} on {len(prices)} prices ({changed} changed).",
                    messages.SUCCESS,
                )
                return None
            previews = {
                p.pk: services.retail_from_kie(kie_credits=p.kie_credits, factor=factor) for p in prices
            }
        rows = [(p, previews.get(p.pk) if previews else None) for p in prices]
        context = {
            **self.admin_site.each_context(request),
            "title": "Set retail credits from KIE credits",
            "opts": self.model._meta,
            "form": form,
            "rows": rows,
            "action_name": "set_retail_from_kie",
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/catalog/price/set_retail.html", context)

    def get_urls(self):
        return [
            path(
                "cost-table/",
                self.admin_site.admin_view(self.cost_table_view),
                name="catalog_price_cost_table",
            ),
            *super().get_urls(),
        ]

    def cost_table_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        settings = selectors.catalog_settings_get()
        context = {
            **self.admin_site.each_context(request),
            "title": "Cost per 1000 images",
            "opts": self.model._meta,
            "rows": selectors.cost_table(settings=settings),
            "settings": settings,
            "changelist_url": reverse("admin:catalog_price_changelist"),
        }
        return TemplateResponse(request, "admin/catalog/price/cost_table.html", context)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "catalog_settings": selectors.catalog_settings_get()}
        return super().changelist_view(request, extra_context=extra_context)


@admin.register(PriceChange)
class PriceChangeAdmin(admin.ModelAdmin):
    """The price history: read-only, one row per edit."""

    list_display = [
        "changed_at",
        "price",
        "old_credits",
        "new_credits",
        "old_kie_credits",
        "new_kie_credits",
        "changed_by",
        "note",
    ]
    list_filter = ["price__model__family", "changed_at"]
    search_fields = ["price__model__slug", "note", "changed_by__email"]
    list_select_related = ["price__model", "changed_by"]
    date_hierarchy = "changed_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Money knobs -----------------------------------------------------------------------------------


@admin.register(CatalogSettings)
class CatalogSettingsAdmin(admin.ModelAdmin):
    fields = ["usd_per_kie_credit", "usd_per_credit"]
    list_display = ["__str__", "usd_per_kie_credit", "usd_per_credit"]

    def has_add_permission(self, request):
        return not CatalogSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        # One row: go straight to it.
        obj = selectors.catalog_settings_get()
        return redirect(reverse("admin:catalog_catalogsettings_change", args=[obj.pk]))


class CreditPackForm(forms.ModelForm):
    price_cents = forms.IntegerField(
        label="Price (cents)",
        min_value=50,
        help_text="What the user pays, in US cents (2500 = $25.00). Stripe's minimum is 50.",
        error_messages={"min_value": "Stripe cannot charge less than 50 cents."},
    )
    credits = forms.IntegerField(
        min_value=1, error_messages={"min_value": "A pack must give at least 1 credit."}
    )

    class Meta:
        model = CreditPack
        fields = ["name", "price_cents", "credits", "is_active", "sort_order"]


@admin.register(CreditPack)
class CreditPackAdmin(admin.ModelAdmin):
    form = CreditPackForm
    list_display = ["name", "price", "credits", "per_credit", "is_active", "sort_order"]
    list_editable = ["is_active", "sort_order"]
    list_filter = ["is_active"]

    @admin.display(description="Price", ordering="price_cents")
    def price(self, pack):
        return _usd(Decimal(pack.price_cents) / 100, 2)

    @admin.display(description="Per credit")
    def per_credit(self, pack):
        return _usd(Decimal(pack.price_cents) / 100 / pack.credits)
