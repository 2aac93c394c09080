"""Admin forms: clear messages for bad money values and unusable input schemas."""

import json
import re
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from catalog import services
from catalog.models import AIModel, CreditPack, Price

# KIE's model ids: "google/imagen4-fast", "nano-banana-pro", "gpt-image/1.5-text-to-image".
KIE_MODEL_ID = re.compile(r"[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*")

CREDIT_ERRORS = {
    "invalid": "Retail credits must be a whole number of credits (no fractions).",
    "min_value": "Retail credits must be at least 1.",
    "required": "Enter the retail price in credits.",
}


class PrettyJSONField(forms.JSONField):
    """A JSON field shown indented, so staff can read and edit a schema."""

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False, cls=self.encoder)


class AIModelForm(forms.ModelForm):
    input_schema = PrettyJSONField(
        widget=forms.Textarea(attrs={"rows": 24, "cols": 100, "class": "admin-code"}),
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
            "content_filter_optional",
            "input_schema",
            "paused_reason",
            "use_instead",
        ]

    def clean_kie_model(self):
        value = self.cleaned_data["kie_model"].strip()
        if not KIE_MODEL_ID.fullmatch(value):
            raise ValidationError(
                "A KIE model id is lower-case letters, digits, '.', '_' and '-', in parts separated by '/' "
                "(e.g. google/imagen4-fast), as KIE's model pages name it."
            )
        taken = AIModel.objects.filter(kie_model=value).exclude(pk=self.instance.pk).first()
        if taken is not None:
            raise ValidationError(f"{taken.name} ({taken.slug}) already uses the KIE model id {value!r}.")
        return value

    def clean(self):
        cleaned = super().clean()
        use_instead = cleaned.get("use_instead")
        if use_instead is not None and self.instance.pk and use_instead.pk == self.instance.pk:
            self.add_error(
                "use_instead", "Choose another model: users are sent there while this one is paused."
            )
        if "input_schema" in cleaned:
            try:
                services.input_schema_clean(
                    schema=cleaned["input_schema"],
                    count_field=cleaned.get("count_field", ""),
                    variant_field=cleaned.get("variant_field", ""),
                )
            except ValidationError as exc:
                self.add_error("input_schema", exc)
        return cleaned


def _retail_credits_field(**kwargs):
    return forms.IntegerField(label="Retail credits", min_value=1, error_messages=CREDIT_ERRORS, **kwargs)


class PriceForm(forms.ModelForm):
    credits = _retail_credits_field(help_text="What users pay, per unit.")
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

    def clean(self):
        cleaned = super().clean()
        # On a price's change page the model is read-only, so Django's constraint check skips the
        # (model, variant) pair: without this, a variant already taken is a database error, not a message.
        if "model" not in self.fields and "variant" in cleaned:
            variant = cleaned["variant"]
            taken = Price.objects.filter(model_id=self.instance.model_id, variant=variant)
            if taken.exclude(pk=self.instance.pk).exists():
                name = f"variant {variant!r}" if variant else "no variant"
                self.add_error("variant", f"This model already has a price for {name}.")
        return cleaned


class PriceListForm(forms.ModelForm):
    """The changelist's editable column: retail credits only."""

    credits = _retail_credits_field(widget=forms.NumberInput(attrs={"class": "admin-credits"}))

    class Meta:
        model = Price
        fields = ["credits"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The column header is no label for a screen reader: each row's field names its price.
        price = self.instance
        if price.pk:
            variant = f" ({price.variant})" if price.variant else ""
            label = f"Retail credits, {price.model.name}{variant}"
            self.fields["credits"].widget.attrs["aria-label"] = label


class FactorForm(forms.Form):
    factor = forms.DecimalField(
        min_value=Decimal("0.001"),
        max_digits=8,
        decimal_places=3,
        help_text="Retail = KIE credits × factor, rounded up to a whole credit. 2 doubles KIE's price.",
        error_messages={"min_value": "The factor must be greater than 0."},
    )


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
