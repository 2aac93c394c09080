"""A ledger row in words, for the billing page and the CSV export.

The page and the CSV show people what happened, never what staff typed or what we key rows by: a
staff adjustment's reason is an internal note (it stays in the admin and the log), and references
(Stripe ids, "adj:<uuid>", generation ids) are not descriptions.
"""

from dataclasses import dataclass

from django.urls import reverse

from .models import LedgerKind


@dataclass(frozen=True)
class LedgerLine:
    text: str
    link_url: str = ""
    link_text: str = ""


def _generation_url(entry):
    # Generation rows are keyed by the generation's public id (generation.services / pipeline).
    return f"/generations/{entry.reference}/"


def ledger_line(entry):
    """Return a LedgerLine for one LedgerEntry (its `topup` selected with it)."""
    kind = entry.kind
    if kind == LedgerKind.GENERATION_CHARGE:
        # generation.services writes "<model name> × <images>" here when it charges.
        return LedgerLine(entry.description or "Generation", _generation_url(entry), "see the images")
    if kind == LedgerKind.GENERATION_REFUND:
        text = entry.description if entry.description.startswith("Partial refund") else ""
        text = text or "Refund: the generation failed"
        return LedgerLine(text, _generation_url(entry), "see why")
    if kind == LedgerKind.SIGNUP_BONUS:
        return LedgerLine("Welcome bonus")
    if kind == LedgerKind.ADJUSTMENT:
        return LedgerLine("Credits added by Artio" if entry.amount > 0 else "Credits removed by Artio")
    # The other rows' descriptions are written by billing's own code in plain words
    # (payments.py, subscriptions.py); a payment row links to its receipt.
    text = entry.description or entry.get_kind_display()
    if not entry.topup_id:
        return LedgerLine(text)
    receipt = reverse("billing-receipt", args=[entry.topup.public_id])
    if kind == LedgerKind.TOPUP:
        text = f"Top-up of {entry.topup.amount_display}"
    return LedgerLine(text, receipt, "receipt")
