"""Partner API: quotes and generations.

Views only parse, call one service of the generation app, and render; GenerationError becomes
the API's error shape. Money never moves here: `generation_create` charges, in its transaction.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiCallback,
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from artio.api_auth import ApiCursorPagination, ApiKeyRateThrottle
from artio.api_errors import ErrorSerializer
from artio.errors import ArtioError
from artio.idempotency import HEADER as IDEMPOTENCY_HEADER
from artio.idempotency import idempotent_response
from billing.api import PartnerRequired

from . import selectors, services
from .models import Source, Status
from .serializers import (
    GENERATION_ID_PATTERN,
    GenerationRequestSerializer,
    GenerationSerializer,
    QuoteSerializer,
    WebhookEventSerializer,
    quote_representation,
)

BASE = "https://artio.example/api/v1"


def _api_error(error):
    """Return `error` as the API says it. An unknown model is bad input (400), not a 404: the slug
    is part of the body, not of the URL; and the service names fields of `input` plainly."""
    if error.code == "not_found":
        return ArtioError(error.message, details={"model": [error.message]})
    if error.code == "invalid_input":
        error.details = {
            key if key in ("model", "input") or key.startswith("input.") else f"input.{key}": value
            for key, value in error.details.items()
        }
    return error


def _request_body(request):
    serializer = GenerationRequestSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _errors(*codes_and_text):
    return {status: OpenApiResponse(ErrorSerializer, description=text) for status, text in codes_and_text}


COMMON_ERRORS = [
    (
        400,
        "`invalid_input`: malformed JSON, wrong types, unknown model, input failing the model's schema, "
        "or a webhook_url that is not https to a public host. `details` names each field.",
    ),
    (401, "`unauthenticated`: missing, malformed, unknown or revoked key."),
    (402, "`insufficient_credits`: balance below the price; `details` has `required` and `balance`."),
    (403, "`plan_required` (model above the account's plan) or `account_frozen`."),
    (409, "`idempotency_in_progress`: a request with this Idempotency-Key is still running; retry."),
    (422, "`idempotency_key_reused`: this Idempotency-Key was used with a different body."),
    (429, "`rate_limited`: over the key's request rate; see Retry-After."),
    (
        503,
        "`provider_unavailable`: generation is paused (e.g. the provider is out of credits); "
        "`model_paused`: staff paused this model, the message names the one to use instead.",
    ),
]
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Optional, recommended: a unique string (e.g. a UUID) per logical request, kept 24 h. A repeat "
        "with the same key and body returns the first response and charges nothing."
    ),
)
REPLAYED_HEADER = OpenApiParameter(
    "Idempotent-Replayed",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Present, `true`, when this is the stored first response to the same Idempotency-Key.",
    response=[200, 202],
)
WEBHOOK_CALLBACK = OpenApiCallback(
    "generationFinished",
    "{$request.body#/webhook_url}",
    extend_schema(
        summary="Artio tells you a generation ended",
        description=(
            "POSTed to `webhook_url` once the generation succeeds or fails; retried with backoff for a "
            "day until you answer 2xx. Check `Artio-Signature` on the raw body before parsing it, and "
            "de-duplicate on `data.id` (docs/api.md, sections 4 and 5)."
        ),
        request=WebhookEventSerializer,
        responses={
            200: OpenApiResponse(
                description="Any 2xx: received. Anything else, or no answer in 5 s, is retried."
            )
        },
    ),
)
REQUEST_EXAMPLE = OpenApiExample(
    "Two images",
    value={
        "model": "google/imagen4-fast",
        "input": {"prompt": "A lighthouse at dawn, watercolour", "aspect_ratio": "1:1", "num_images": 2},
        "webhook_url": "https://partner.example/hooks/artio",
    },
    request_only=True,
)
GENERATION_EXAMPLE = {
    "id": "gen_01JC9S4X4Q7K0Z3M2P8V6T5R1A",
    "model": "google/imagen4-fast",
    "status": "queued",
    "input": {"prompt": "A lighthouse at dawn, watercolour", "aspect_ratio": "1:1", "num_images": 2},
    "credits_charged": 8,
    "refunded": False,
    "images": [],
    "error": None,
    "created_at": "2026-11-26T10:00:00Z",
    "completed_at": None,
}


class QuoteApi(APIView):
    permission_classes = [PartnerRequired]
    throttle_classes = [ApiKeyRateThrottle]

    @extend_schema(
        operation_id="quotes_create",
        summary="Price a generation",
        description=(
            "Return exactly what `POST /generations` with this body would charge now (your partner "
            "discount included). Nothing is charged. Same pricing code as the charge.\n\n"
            f'```sh\ncurl -X POST {BASE}/quotes -H "Authorization: Bearer $ARTIO_KEY" \\\n'
            "  -H 'Content-Type: application/json' \\\n"
            '  -d \'{"model": "google/imagen4-fast", "input": {"prompt": "a fox", "num_images": 2}}\'\n```'
            "\n\n```python\nimport requests\n\n"
            f'r = requests.post("{BASE}/quotes", headers={{"Authorization": f"Bearer {{key}}"}},\n'
            '                  json={"model": "google/imagen4-fast",\n'
            '                        "input": {"prompt": "a fox", "num_images": 2}}, timeout=10)\n'
            'print(r.json()["credits"])\n```'
        ),
        request=GenerationRequestSerializer,
        parameters=[IDEMPOTENCY_PARAMETER, REPLAYED_HEADER],
        responses={200: QuoteSerializer, **_errors(*[e for e in COMMON_ERRORS if e[0] != 402])},
        examples=[
            REQUEST_EXAMPLE,
            OpenApiExample(
                "Quote",
                value={
                    "model": "google/imagen4-fast",
                    "variant": "",
                    "unit": "image",
                    "unit_credits": 4,
                    "images": 2,
                    "base_credits": 8,
                    "discount_percent": 0,
                    "credits": 8,
                },
                response_only=True,
            ),
        ],
        tags=["generations"],
    )
    def post(self, request):
        def quote(store):
            body = _request_body(request)
            try:
                result = services.generation_quote(
                    user=request.user, model_slug=body["model"], data=body["input"], account=request.account
                )
            except ArtioError as error:
                raise _api_error(error) from None
            return Response(quote_representation(result))

        return idempotent_response(request=request, handler=quote)


class GenerationListCreateApi(APIView):
    permission_classes = [PartnerRequired]
    throttle_classes = [ApiKeyRateThrottle]
    pagination_class = ApiCursorPagination

    @extend_schema(
        operation_id="generations_create",
        summary="Start a generation",
        description=(
            "Validate, charge and queue a generation; answer `202` with the generation object. Poll "
            "`GET /generations/{id}` or pass `webhook_url` to be told when it succeeds or fails (a "
            "failed generation is refunded). Send an `Idempotency-Key` so a retried request never "
            "charges twice.\n\n"
            f'```sh\ncurl -X POST {BASE}/generations -H "Authorization: Bearer $ARTIO_KEY" \\\n'
            "  -H 'Content-Type: application/json' -H \"Idempotency-Key: $(uuidgen)\" \\\n"
            '  -d \'{"model": "google/imagen4-fast", "input": {"prompt": "a fox"},\n'
            '       "webhook_url": "https://partner.example/hooks/artio"}\'\n```\n\n'
            "```python\nimport uuid, requests\n\n"
            f'r = requests.post("{BASE}/generations",\n'
            '                  headers={"Authorization": f"Bearer {key}",\n'
            '                           "Idempotency-Key": str(uuid.uuid4())},\n'
            '                  json={"model": "google/imagen4-fast", "input": {"prompt": "a fox"}},\n'
            "                  timeout=30)\ngeneration = r.json()  # r.status_code == 202\n```"
        ),
        request=GenerationRequestSerializer,
        parameters=[IDEMPOTENCY_PARAMETER, REPLAYED_HEADER],
        responses={202: GenerationSerializer, **_errors(*COMMON_ERRORS)},
        callbacks=[WEBHOOK_CALLBACK],
        examples=[REQUEST_EXAMPLE, OpenApiExample("Queued", value=GENERATION_EXAMPLE, response_only=True)],
        tags=["generations"],
    )
    def post(self, request):
        def create(store):
            body = _request_body(request)
            responses = []

            def respond(generation):
                responses.append(
                    Response(GenerationSerializer(generation, context={"request": request}).data, status=202)
                )

            def respond_and_store(generation):
                # Inside the charge's transaction: the stored response commits with it, or neither.
                respond(generation)
                store(responses[0])

            try:
                generation = services.generation_create(
                    user=request.user,
                    model_slug=body["model"],
                    data=body["input"],
                    source=Source.API,
                    webhook_url=body.get("webhook_url", ""),
                    idempotency_key=request.headers.get(IDEMPOTENCY_HEADER, ""),
                    account=request.account,
                    on_created=respond_and_store if store else None,
                    api_key=request.auth,
                )
            except ArtioError as error:
                raise _api_error(error) from None
            if not responses:
                respond(generation)  # no key: nothing to store, so built after the commit
            return responses[0]

        return idempotent_response(request=request, handler=create)

    @extend_schema(
        operation_id="generations_list",
        summary="Your generations",
        description=(
            "Newest first, cursor-paginated: follow `next` until it is null. `?limit=` (at most 100) "
            "sets the page size, `?status=` filters.\n\n"
            f'```sh\ncurl -H "Authorization: Bearer $ARTIO_KEY" "{BASE}/generations?status=succeeded"\n```'
            "\n\n```python\nimport requests\n\n"
            f'page = requests.get("{BASE}/generations", params={{"status": "succeeded", "limit": 50}},\n'
            '                    headers={"Authorization": f"Bearer {key}"}, timeout=10).json()\n'
            'for generation in page["results"]:\n    print(generation["id"], generation["status"])\n```'
        ),
        parameters=[
            # The value set's one named type (SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]).
            OpenApiParameter(
                "status", {"$ref": "#/components/schemas/GenerationStatus"}, description="Only this status."
            ),
        ],
        responses={
            200: GenerationSerializer(many=True),
            **_errors(*[e for e in COMMON_ERRORS if e[0] in (400, 401, 403, 429)]),
        },
        tags=["generations"],
    )
    def get(self, request):
        status = request.query_params.get("status")
        if status is not None and status not in Status.values:
            raise exceptions.ValidationError({"status": [f"Must be one of: {', '.join(Status.values)}."]})
        generations = selectors.generations_for_owner(user=request.user, status=status)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(generations, request, view=self)
        data = GenerationSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)


class GenerationDetailApi(APIView):
    permission_classes = [PartnerRequired]
    throttle_classes = [ApiKeyRateThrottle]

    @extend_schema(
        operation_id="generations_retrieve",
        summary="One generation",
        description=(
            "Another account's id answers 404, exactly like an unknown one.\n\n"
            f'```sh\ncurl -H "Authorization: Bearer $ARTIO_KEY" {BASE}/generations/gen_01JC9S4X…\n```\n\n'
            "```python\nimport time, requests\n\n"
            "while True:\n"
            f'    g = requests.get(f"{BASE}/generations/{{gen_id}}",\n'
            '                     headers={"Authorization": f"Bearer {key}"}, timeout=10).json()\n'
            '    if g["status"] in ("succeeded", "failed"):\n        break\n    time.sleep(3)\n'
            'print([image["url"] for image in g["images"]])\n```'
        ),
        parameters=[
            OpenApiParameter(
                "public_id",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                pattern=GENERATION_ID_PATTERN,
                description="The generation's `id`.",
            )
        ],
        responses={
            200: GenerationSerializer,
            404: OpenApiResponse(
                ErrorSerializer, description="`not_found`: unknown id, or another account's."
            ),
            **_errors(*[e for e in COMMON_ERRORS if e[0] in (401, 403, 429)]),
        },
        examples=[
            OpenApiExample(
                "Succeeded",
                value={
                    **GENERATION_EXAMPLE,
                    "status": "succeeded",
                    "images": [
                        {
                            "url": "https://artio.example/media/generations/gen_01JC9S4X_0.png",
                            "width": 1024,
                            "height": 1024,
                            "content_type": "image/png",
                        }
                    ],
                    "completed_at": "2026-11-26T10:00:21Z",
                },
                response_only=True,
            )
        ],
        tags=["generations"],
    )
    def get(self, request, public_id):
        generation = selectors.generation_get_for_owner(user=request.user, public_id=public_id)
        return Response(GenerationSerializer(generation, context={"request": request}).data)
