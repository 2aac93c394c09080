from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .memo import memo_bump
from .models import ApiKey, PartnerSettings, User
from .selectors import PARTNER_TERMS
from .services import api_key_revoke, webhook_secret_new


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active", "date_joined"]
    search_fields = ["email", "name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["name"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Staff see and revoke keys; keys are created by their owner (the secret is never stored)."""

    list_display = ["prefix", "name", "user", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["prefix", "name", "user__email"]
    fields = ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["user", "prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(user=api_key.user, key_id=api_key.pk)
        self.message_user(request, "Revoked.")


@admin.register(PartnerSettings)
class PartnerSettingsAdmin(admin.ModelAdmin):
    """A partner's API rate limit and discount (the webhook secret is the partner's own)."""

    list_display = ["user", "rate_limit_per_minute", "discount_percent", "updated_at"]
    search_fields = ["user__email"]
    fields = ["user", "rate_limit_per_minute", "discount_percent", "updated_at"]
    raw_id_fields = ["user"]

    def get_readonly_fields(self, request, obj=None):
        return ["user", "updated_at"] if obj else ["updated_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            # The secret is the partner's to see and rotate on their keys page; staff never type one.
            obj.webhook_secret = webhook_secret_new()
        super().save_model(request, obj, form, change)
        # Every process reads the rate limit and discount from memory until told they changed.
        memo_bump(PARTNER_TERMS)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        memo_bump(PARTNER_TERMS)

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        memo_bump(PARTNER_TERMS)
