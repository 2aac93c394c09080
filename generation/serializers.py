"""Partner API serializers for quotes and generations. Plain Serializers.

The shapes are those of docs/reference/api-contract.md.
"""

from django.conf import settings
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.models import PriceUnit

from .models import Status
from .webhooks import WebhookUrlRefused, webhook_url_check

WEBHOOK_URL_MAX_LENGTH = 500
# "gen_" and 26 characters of Crockford's base32 (generation.models.public_id_new).
GENERATION_ID_PATTERN = r"^gen_[0-9A-HJKMNP-TV-Z]{26}$"
# The `type` of a partner webhook (generation/delivery.py); more may come.
WEBHOOK_EVENT_TYPES = ("generation.succeeded", "generation.failed")


class GenerationRequestSerializer(serializers.Serializer):
    """The body of POST /generations and POST /quotes."""

    model = serializers.CharField(max_length=100, help_text="A model slug from GET /models.")
    input = serializers.DictField(help_text="The model's input, as its `input_schema` describes.")
    webhook_url = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=WEBHOOK_URL_MAX_LENGTH,
        help_text="Optional https URL on a public host; the terminal state is POSTed to it, signed.",
    )

    def validate_webhook_url(self, value):
        if value:
            try:
                webhook_url_check(value)
            except WebhookUrlRefused as refused:
                raise serializers.ValidationError(str(refused)) from None
        return value


class QuoteSerializer(serializers.Serializer):
    model = serializers.CharField(help_text="The model slug.")
    variant = serializers.CharField(help_text="The price variant used (e.g. 1K), or empty.")
    unit = serializers.ChoiceField(choices=PriceUnit.choices, help_text="What one unit price buys.")
    unit_credits = serializers.IntegerField(help_text="The price of one unit before any discount.")
    images = serializers.IntegerField(help_text="Images the generation will return.")
    base_credits = serializers.IntegerField(help_text="Credits before your partner discount.")
    discount_percent = serializers.IntegerField(help_text="Your account's partner discount.")
    credits = serializers.IntegerField(help_text="Exactly what POST /generations would charge now.")


def quote_representation(quote):
    return QuoteSerializer(
        {
            "model": quote.model.slug,
            "variant": quote.price.variant,
            "unit": quote.price.unit,
            "unit_credits": quote.unit_credits,
            "images": quote.images,
            "base_credits": quote.base_credits,
            "discount_percent": quote.discount_percent,
            "credits": quote.credits,
        }
    ).data


class ImageSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="Artio's own copy; valid long after KIE deletes its copy.")
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    content_type = serializers.CharField()


class GenerationErrorSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="Why it failed, for programs, e.g. `generation_failed`, `deadline`; more may appear."
    )
    message = serializers.CharField(help_text="A sentence fit to show a person.")


class GenerationSerializer(serializers.Serializer):
    """The generation object. Needs context["base_url"] (or a request) to make image URLs absolute."""

    id = serializers.CharField(
        source="public_id",
        validators=[RegexValidator(GENERATION_ID_PATTERN)],
        help_text='"gen_" and 26 base32 characters.',
    )
    model = serializers.CharField(source="model.slug")
    status = serializers.ChoiceField(choices=Status.choices)
    input = serializers.DictField()
    credits_charged = serializers.IntegerField()
    refunded = serializers.BooleanField()
    images = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)

    def _absolute(self, url):
        if url.startswith(("https://", "http://")):
            return url
        request = self.context.get("request")
        if request is not None:
            return request.build_absolute_uri(url)
        return self.context.get("base_url", settings.ARTIO_PUBLIC_URL) + url

    @extend_schema_field(ImageSerializer(many=True))
    def get_images(self, generation):
        return [
            {
                "url": self._absolute(image.file.url),
                "width": image.width,
                "height": image.height,
                "content_type": image.content_type,
            }
            for image in generation.images.all()
        ]

    @extend_schema_field(GenerationErrorSerializer(allow_null=True))
    def get_error(self, generation):
        if generation.status != Status.FAILED and not generation.error_code:
            return None
        return {
            "code": generation.error_code or "failed",
            "message": generation.error_message or "The generation failed.",
        }


class WebhookEventSerializer(serializers.Serializer):
    """The body Artio POSTs to a generation's `webhook_url` (for the OpenAPI callback)."""

    type = serializers.ChoiceField(
        choices=[(event, event) for event in WEBHOOK_EVENT_TYPES],
        help_text="`generation.succeeded` or `generation.failed`.",
    )
    data = GenerationSerializer(help_text="The generation, as GET /generations/{id} returns it.")
