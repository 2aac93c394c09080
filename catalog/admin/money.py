"""The money knobs in the admin: the rates (one row) and the credit packs."""

from django.contrib import admin
from django.shortcuts import redirect
from django.urls import reverse

from catalog import selectors
from catalog.models import CatalogSettings, CreditPack
from catalog.templatetags.catalog_extras import cents_usd, per_credit_usd

from .forms import CreditPackForm


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


@admin.register(CreditPack)
class CreditPackAdmin(admin.ModelAdmin):
    form = CreditPackForm
    list_display = ["name", "price", "credits", "per_credit", "is_active", "sort_order"]
    list_editable = ["is_active", "sort_order"]
    list_filter = ["is_active"]

    @admin.display(description="Price", ordering="price_cents")
    def price(self, pack):
        return cents_usd(pack.price_cents)

    @admin.display(description="Per credit")
    def per_credit(self, pack):
        return per_credit_usd(pack)
