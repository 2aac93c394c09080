"""Prices in the admin: the price list with margins, bulk repricing, the cost table, the history."""

from decimal import Decimal

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import DecimalField, ExpressionWrapper, F, Value
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html

from artio.admin_base import ReadOnlyAdmin
from catalog import selectors, services
from catalog.models import Price, PriceChange
from catalog.money import usd_dollars
from catalog.selectors import Margin
from catalog.templatetags.catalog_extras import plain

from .forms import FactorForm, PriceForm, PriceListForm

MONEY = DecimalField(max_digits=16, decimal_places=5)


def price_form_save(request, price, form, *, change, note):
    """Save a price form through the services (money changes are recorded in PriceChange), and say
    loudly when the price now sells below what KIE charges us."""
    saved = _price_save(request, price, form, change=change, note=note)
    below_cost_warn(request, Price.objects.select_related("model").get(pk=saved.pk))
    return saved


def below_cost_warn(request, price):
    """Add an error-level admin message when `price` loses money on every sale; return True if so."""
    margin = selectors.price_margin(price=price, settings=selectors.catalog_settings_get())
    if not margin.below_cost:
        return False
    variant = f" ({price.variant})" if price.variant else ""
    messages.error(
        request,
        f"Below cost: {price.model.name}{variant} sells for {price.credits} credits = "
        f"{usd_dollars(margin.retail_usd)} at the base rate but costs {usd_dollars(margin.cost_usd)} at KIE "
        f"({plain(price.kie_credits)} KIE credits): a loss of {usd_dollars(-margin.margin_usd)} "
        f"{price.get_unit_display()}. Raise its retail credits unless the loss is meant.",
    )
    return True


def _price_save(request, price, form, *, change, note):
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
        services.price_details_set(
            price=price, variant=price.variant, unit=price.unit, changed_by=request.user
        )
    services.price_update(
        price=price,
        credits=form.cleaned_data.get("credits"),
        kie_credits=form.cleaned_data.get("kie_credits"),
        changed_by=request.user,
        note=note,
    )
    return price


def margin_html(margin):
    """Render a Margin: amount and share of retail, or a red "▼ $x below cost" that needs no colour."""
    if margin.below_cost:
        return format_html(
            '<strong class="below-cost">▼ {} below cost</strong>', usd_dollars(-margin.margin_usd)
        )
    return format_html("{} ({}%)", usd_dollars(margin.margin_usd), margin.margin_percent)


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
        return usd_dollars(price.cost_usd)

    @admin.display(description="Retail value", ordering="retail_usd")
    def retail_value(self, price):
        return usd_dollars(price.retail_usd)

    @admin.display(description="Margin per unit", ordering="margin_usd")
    def margin(self, price):
        return margin_html(Margin(retail_usd=Decimal(price.retail_usd), cost_usd=Decimal(price.cost_usd)))

    def save_model(self, request, obj, form, change):
        note = "Edited in the price list" if set(form.fields) == {"credits"} else "Edited in the admin"
        price_form_save(request, obj, form, change=change, note=note)

    def has_delete_permission(self, request, obj=None):
        # PriceChange rows protect prices; a model is retired by deactivating it.
        return False

    @admin.action(description="Set retail = KIE credits × factor (rounded up)", permissions=["change"])
    def set_retail_from_kie(self, request, queryset):
        prices = list(queryset.order_by("model__sort_order", "model__slug", "variant"))
        asked = "apply" in request.POST or "preview" in request.POST
        form = FactorForm(request.POST if asked else None)
        previews = {}
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
                for price in Price.objects.select_related("model").filter(pk__in=[p.pk for p in prices]):
                    below_cost_warn(request, price)
                return None
            previews = {
                p.pk: services.retail_from_kie(kie_credits=p.kie_credits, factor=factor) for p in prices
            }
        context = {
            **self.admin_site.each_context(request),
            "title": "Set retail credits from KIE credits",
            "opts": self.model._meta,
            "form": form,
            "rows": [(p, previews.get(p.pk)) for p in prices],
            "action_name": "set_retail_from_kie",
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/catalog/price/set_retail.html", context)

    def get_urls(self):
        cost_table = path(
            "cost-table/", self.admin_site.admin_view(self.cost_table_view), name="catalog_price_cost_table"
        )
        return [cost_table, *super().get_urls()]

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
        }
        return TemplateResponse(request, "admin/catalog/price/cost_table.html", context)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "catalog_settings": selectors.catalog_settings_get()}
        return super().changelist_view(request, extra_context=extra_context)


@admin.register(PriceChange)
class PriceChangeAdmin(ReadOnlyAdmin):
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
