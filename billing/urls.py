from django.urls import path

import artio.converters  # noqa: F401 (registers the converters)

from . import api, views

urlpatterns = [
    path("pricing/", views.pricing, name="pricing"),
    path("billing/", views.billing, name="billing"),
    path("billing/topup/", views.topup_start, name="billing-topup"),
    path("billing/success/", views.success, name="billing-success"),
    path("billing/cancel/", views.cancel, name="billing-cancel"),
    path("billing/receipts/<public_id:public_id>/", views.receipt, name="billing-receipt"),
    path("billing/ledger.csv", views.ledger_csv, name="billing-ledger-csv"),
    path("billing/subscribe/", views.subscribe, name="billing-subscribe"),
    path("billing/subscribed/", views.subscribed, name="billing-subscribed"),
    path("billing/portal/", views.portal, name="billing-portal"),
    path("billing/auto-topup/", views.auto_topup_settings, name="billing-auto-topup"),
    path("billing/low-balance/", views.low_balance_settings, name="billing-low-balance"),
    path("billing/card/forget/", views.card_forget, name="billing-card-forget"),
    path("billing/key-spend/", views.key_spend, name="billing-key-spend"),
    path("billing/balance/", views.nav_balance, name="billing-nav-balance"),
    path("billing/stripe/webhook/", views.stripe_webhook, name="stripe-webhook"),
]

# The sandbox checkout (settings.STRIPE_SANDBOX only; the views refuse otherwise).
SANDBOX = "billing/sandbox/checkout/<public_id:public_id>/"
urlpatterns += [
    path(SANDBOX, views.sandbox_checkout, name="billing-sandbox-checkout"),
    path(f"{SANDBOX}pay/", views.sandbox_pay, name="billing-sandbox-pay"),
    path(f"{SANDBOX}cancel/", views.sandbox_cancel, name="billing-sandbox-cancel"),
    path("billing/sandbox/subscribe/<slug:slug>/", views.sandbox_subscribe, name="billing-sandbox-subscribe"),
    path(
        "billing/sandbox/subscribe/<slug:slug>/pay/",
        views.sandbox_subscribe_pay,
        name="billing-sandbox-subscribe-pay",
    ),
    path("billing/sandbox/portal/", views.sandbox_portal, name="billing-sandbox-portal"),
    path(
        "billing/sandbox/portal/<slug:action>/", views.sandbox_portal_act, name="billing-sandbox-portal-act"
    ),
]

# Mounted under /api/v1/ by the root URLconf.
api_urlpatterns = [
    path("balance", api.BalanceApi.as_view(), name="api-balance"),
    path("ledger", api.LedgerApi.as_view(), name="api-ledger"),
]
