from decimal import Decimal

from django import forms

from catalog.money import usd_cents


class TopUpForm(forms.Form):
    """A credit pack, or a custom amount in dollars (limits come from BillingSettings)."""

    pack = forms.IntegerField(required=False, widget=forms.HiddenInput)
    amount = forms.DecimalField(
        label="Amount (USD)",
        required=False,
        max_digits=9,
        decimal_places=2,
        error_messages={
            "invalid": "Enter the amount as a number of dollars, e.g. 12 or 12.50.",
            "max_decimal_places": "Use at most 2 decimals (whole cents).",
            "max_digits": "That amount is too large.",
            "max_whole_digits": "That amount is too large.",
        },
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput)
    save_card = forms.BooleanField(required=False, label="Save this card for automatic top-ups")

    def __init__(self, *args, min_cents, max_cents, **kwargs):
        super().__init__(*args, **kwargs)
        self.min_cents, self.max_cents = min_cents, max_cents
        self.fields["amount"].widget.attrs.update(
            {
                "min": str(Decimal(min_cents).scaleb(-2)),
                "max": str(Decimal(max_cents).scaleb(-2)),
                "step": "0.01",
                "inputmode": "decimal",
            }
        )
        self.fields["amount"].help_text = f"Between {usd_cents(min_cents)} and {usd_cents(max_cents)}."

    def clean(self):
        data = super().clean()
        if data.get("pack") is None and "amount" not in self.errors:
            amount = data.get("amount")
            if amount is None:
                self.add_error("amount", "Enter an amount, or pick a credit pack.")
            elif amount * 100 < self.min_cents:
                self.add_error("amount", f"The minimum top-up is {usd_cents(self.min_cents)}.")
            elif amount * 100 > self.max_cents:
                self.add_error("amount", f"The maximum top-up is {usd_cents(self.max_cents)}.")
            else:
                data["amount_cents"] = int(amount * Decimal(100))
        return data


class AdjustBalanceForm(forms.Form):
    amount = forms.IntegerField(
        label="Credits (signed)", help_text="Positive adds credits, negative takes them away."
    )
    reason = forms.CharField(max_length=200, help_text="Shown to the user in their ledger.")

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("The amount cannot be zero.")
        return amount


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=200)


class AutoTopUpForm(forms.Form):
    enabled = forms.BooleanField(required=False, label="Top up automatically")
    threshold = forms.IntegerField(
        label="When my balance falls below (credits)", min_value=1, max_value=10_000_000, required=False
    )
    pack = forms.IntegerField(label="Buy this pack", required=False)
    monthly_limit = forms.DecimalField(
        label="At most this much a month (USD)", min_value=Decimal("0.50"), max_digits=9, decimal_places=2,
        required=False,
    )  # fmt: skip

    def clean(self):
        data = super().clean()
        if data.get("enabled"):
            for name in ("threshold", "pack", "monthly_limit"):
                if data.get(name) is None and name not in self.errors:
                    self.add_error(name, "Needed to turn automatic top-up on.")
        return data


class LowBalanceAlertForm(forms.Form):
    threshold = forms.IntegerField(
        label="E-mail me when my balance falls below (credits)", min_value=1, max_value=10_000_000,
        required=False, help_text="Leave empty for no e-mail.",
    )  # fmt: skip
