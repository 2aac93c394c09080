"""Partner API: the caller's balance and ledger, and the permission every partner view uses."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from artio.api_auth import ApiCursorPagination, ApiKeyRateThrottle
from artio.api_errors import ErrorSerializer
from artio.models import ApiKey
from catalog.models import Plan

from .models import LedgerKind, SubscriptionStatus
from .selectors import account_get, key_spent_this_month, ledger_for_account, subscription_live_for_account
from .services import AccountFrozen


class PartnerRequired(BasePermission):
    """Allow requests made with an API key whose account is not frozen; set `request.account`.

    A view with `allow_frozen = True` (balance, ledger) stays readable for a frozen account, so
    the partner can see that it is frozen and the ledger row that froze it.
    """

    def has_permission(self, request, view):
        if not isinstance(request.auth, ApiKey):
            raise exceptions.NotAuthenticated("An API key is required: 'Authorization: Bearer <key>'.")
        account = account_get(user=request.user)
        if account.frozen and not getattr(view, "allow_frozen", False):
            raise AccountFrozen(reason=account.frozen_reason)
        request.account = account
        return True


class SubscriptionStateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=SubscriptionStatus.choices)
    current_period_end = serializers.DateTimeField(allow_null=True, help_text="When it renews (or ends).")
    cancel_at_period_end = serializers.BooleanField(help_text="True: it ends at current_period_end.")


class KeySpendSerializer(serializers.Serializer):
    key_prefix = serializers.CharField(help_text="The key's prefix: artio_<prefix>_….")
    cap = serializers.IntegerField(allow_null=True, help_text="Credits it may spend a calendar month (UTC).")
    spent_this_month = serializers.IntegerField(help_text="Credits spent through it this month (UTC).")


class BalanceSerializer(serializers.Serializer):
    credits = serializers.IntegerField(help_text="Credits available to spend.")
    plan = serializers.ChoiceField(choices=Plan.choices)
    frozen = serializers.BooleanField(help_text="A frozen account cannot quote or generate.")
    subscription = SubscriptionStateSerializer(
        required=False,
        help_text="Only when subscribed: the live (active, trialing or past due) subscription.",
    )
    spend = KeySpendSerializer(
        many=True,
        required=False,
        help_text="Only when the calling key has a monthly cap: its spend this calendar month (UTC).",
    )


class LedgerEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=LedgerKind.choices)
    amount = serializers.IntegerField(help_text="Signed: credits added (+) or taken (−).")
    balance_after = serializers.IntegerField()
    reference = serializers.CharField(help_text="What the entry is about, e.g. a generation id.")
    created_at = serializers.DateTimeField()


AUTH_ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="Missing, malformed, unknown or revoked key."),
    429: OpenApiResponse(ErrorSerializer, description="Over the key's request rate; see Retry-After."),
}


class BalanceApi(APIView):
    permission_classes = [PartnerRequired]
    throttle_classes = [ApiKeyRateThrottle]
    allow_frozen = True

    @extend_schema(
        operation_id="balance_retrieve",
        summary="Your credit balance",
        description=(
            "Return the account's spendable credits, plan, whether it is frozen and, when it subscribes, "
            "the subscription's status, renewal date and whether it ends then.\n\n"
            '```sh\ncurl -H "Authorization: Bearer $ARTIO_KEY" https://artio.example/api/v1/balance\n```\n\n'
            '```python\nimport requests\n\nr = requests.get("https://artio.example/api/v1/balance",\n'
            '                 headers={"Authorization": f"Bearer {key}"}, timeout=10)\n'
            'print(r.json()["credits"])\n```'
        ),
        responses={200: BalanceSerializer, **AUTH_ERRORS},
        examples=[
            OpenApiExample(
                "Balance",
                value={
                    "credits": 1250,
                    "plan": "standard",
                    "frozen": False,
                    "spend": [{"key_prefix": "k3y9x2", "cap": 5000, "spent_this_month": 1180}],
                },
                response_only=True,
            ),
            OpenApiExample(
                "Subscribed",
                value={
                    "credits": 2400,
                    "plan": "premium",
                    "frozen": False,
                    "subscription": {
                        "status": "active",
                        "current_period_end": "2026-12-30T10:00:00Z",
                        "cancel_at_period_end": False,
                    },
                },
                response_only=True,
            ),
        ],
        tags=["account"],
    )
    def get(self, request):
        account = request.account
        data = {"credits": account.balance, "plan": account.plan, "frozen": account.frozen}
        subscription = subscription_live_for_account(account=account)
        if subscription is not None:
            data["subscription"] = subscription
        api_key = request.auth
        cap = api_key.monthly_credit_cap
        if cap is not None:  # omitted for an uncapped key, as before caps existed
            spent = key_spent_this_month(api_key_id=api_key.pk)
            data["spend"] = [{"key_prefix": api_key.prefix, "cap": cap, "spent_this_month": spent}]
        return Response(BalanceSerializer(data).data)


class LedgerApi(APIView):
    permission_classes = [PartnerRequired]
    throttle_classes = [ApiKeyRateThrottle]
    pagination_class = ApiCursorPagination
    allow_frozen = True

    @extend_schema(
        operation_id="ledger_list",
        summary="Your ledger",
        description=(
            "Every change of the balance, newest first, cursor-paginated: follow `next` until it is "
            "null. `?limit=` sets the page size (at most 100).\n\n"
            '```sh\ncurl -H "Authorization: Bearer $ARTIO_KEY" '
            '"https://artio.example/api/v1/ledger?limit=50"\n```\n\n'
            '```python\nimport requests\n\nurl = "https://artio.example/api/v1/ledger"\n'
            'while url:\n    page = requests.get(url, headers={"Authorization": f"Bearer {key}"}, '
            'timeout=10).json()\n    for entry in page["results"]:\n'
            '        print(entry["kind"], entry["amount"], entry["balance_after"])\n'
            '    url = page["next"]\n```'
        ),
        parameters=[],
        responses={200: LedgerEntrySerializer(many=True), 400: ErrorSerializer, **AUTH_ERRORS},
        examples=[
            OpenApiExample(
                "A charge",
                value={
                    "id": 42,
                    "kind": "generation_charge",
                    "amount": -8,
                    "balance_after": 1242,
                    "reference": "gen_01JC9S4X4Q7K0Z3M2P8V6T5R1A",
                    "created_at": "2026-11-26T10:00:00Z",
                },
                response_only=True,
            )
        ],
        tags=["account"],
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(ledger_for_account(account=request.account), request, view=self)
        return paginator.get_paginated_response(LedgerEntrySerializer(page, many=True).data)
