"""Partner API: the public model list. Prices include the caller's partner discount.

The contract is docs/reference/api-contract.md.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from artio.api_errors import ErrorSerializer
from artio.errors import ArtioError
from artio.selectors import discount_percent_for_user

from .models import AIModel, Family, Kind, Plan, PriceUnit
from .selectors import model_get_active, models_active, price_for_account


class PriceSerializer(serializers.Serializer):
    variant = serializers.CharField(
        help_text="Value of the model's variant field (e.g. `1K`, `high`), or empty for a flat price."
    )
    credits = serializers.SerializerMethodField(
        help_text="Credits per unit for the caller (after its partner discount, rounded up)."
    )
    unit = serializers.ChoiceField(
        choices=PriceUnit.choices, help_text="`image`: per output image; `task`: per run."
    )

    def get_credits(self, price) -> int:
        discount = self.context.get("discount_percent", 0)
        return price_for_account(credits=price.credits, discount_percent=discount)


class InputSchemaSerializer(serializers.Serializer):
    """The OpenAPI type of `input_schema` (a JSON Schema object); it is never serialized through this."""

    type = serializers.CharField(required=False, help_text="`object`.")
    properties = serializers.DictField(
        child=serializers.DictField(), required=False, help_text="Each input field's own JSON Schema."
    )
    required = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="The fields a generation must send."
    )


@extend_schema_field(InputSchemaSerializer)
class InputSchemaField(serializers.JSONField):
    """The model's stored JSON Schema, as is (every keyword kept), typed as an object for clients."""


class ModelSerializer(serializers.Serializer):
    slug = serializers.CharField(help_text="Public id, used as `model` when creating a generation.")
    name = serializers.CharField()
    family = serializers.ChoiceField(choices=Family.choices)
    kind = serializers.ChoiceField(choices=Kind.choices)
    description = serializers.CharField(help_text="One line on what the model is good at.")
    min_plan = serializers.ChoiceField(choices=Plan.choices, help_text="Lowest account plan that may use it.")
    prices = PriceSerializer(many=True)
    input_schema = InputSchemaField(
        help_text=(
            "JSON Schema (draft 2020-12) of the generation's `input`. Types are honest (`num_images` is "
            "an integer); `x-kie-type` marks fields Artio converts for KIE and can be ignored."
        )
    )


NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No active model has this slug.")
# A key is optional here, but one that is given must be valid.
UNAUTHENTICATED = OpenApiResponse(ErrorSerializer, description="The Authorization header carries a bad key.")
BASE = "https://artio.example/api/v1"
LIST_EXAMPLE = OpenApiExample(
    "Imagen 4 Fast",
    value=[
        {
            "slug": "google/imagen4-fast",
            "name": "Imagen 4 Fast",
            "family": "imagen",
            "kind": "text-to-image",
            "description": "Fastest and cheapest; good everyday quality, up to 4 images at once.",
            "min_plan": "free",
            "prices": [{"variant": "", "credits": 4, "unit": "image"}],
            "input_schema": {"type": "object", "properties": {"prompt": {"type": "string"}}},
        }
    ],
    response_only=True,
)


class ModelListApi(APIView):
    @extend_schema(
        operation_id="models_list",
        summary="List the models you can generate with",
        description=(
            "Active models with prices per variant. No key needed; with an API key, prices include your "
            "discount.\n\n"
            f'```sh\ncurl -H "Authorization: Bearer $ARTIO_KEY" {BASE}/models\n```\n\n'
            "```python\nimport requests\n\n"
            f'models = requests.get("{BASE}/models", headers={{"Authorization": f"Bearer {{key}}"}},\n'
            "                      timeout=10).json()\n"
            'print([(m["slug"], m["prices"]) for m in models])\n```'
        ),
        responses={200: ModelSerializer(many=True), 401: UNAUTHENTICATED},
        examples=[LIST_EXAMPLE],
        tags=["models"],
    )
    def get(self, request):
        context = {"discount_percent": discount_percent_for_user(user=request.user)}
        return Response(ModelSerializer(models_active(), many=True, context=context).data)


class ModelDetailApi(APIView):
    @extend_schema(
        operation_id="models_retrieve",
        summary="One model",
        description=(
            "The slug contains a slash, e.g. `/api/v1/models/google/imagen4-fast`.\n\n"
            f"```sh\ncurl {BASE}/models/google/imagen4-fast\n```\n\n"
            "```python\nimport requests\n\n"
            f'model = requests.get("{BASE}/models/google/imagen4-fast", timeout=10).json()\n'
            'print(model["input_schema"]["required"])\n```'
        ),
        parameters=[
            OpenApiParameter(
                "slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="Model slug, e.g. google/imagen4"
            )
        ],
        responses={200: ModelSerializer, 401: UNAUTHENTICATED, 404: NOT_FOUND},
        tags=["models"],
    )
    def get(self, request, slug):
        try:
            model = model_get_active(slug=slug)
        except AIModel.DoesNotExist:
            raise ArtioError(
                f"No model {slug!r}.",
                code="not_found",
                http_status=404,
                details={"slug": slug},
            ) from None
        context = {"discount_percent": discount_percent_for_user(user=request.user)}
        return Response(ModelSerializer(model, context=context).data)
