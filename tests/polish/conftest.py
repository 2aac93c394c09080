import pytest

from billing import payments, services
from billing.models import TopUp, TopUpStatus
from catalog.services import catalog_seed


@pytest.fixture
def history():
    """Return history(user): a ledger of each kind of row a user sees, a paid and an abandoned checkout."""
    catalog_seed()  # transactional tests flush what the seed migration filled

    def make(user):
        account = services.account_for_user(user=user)
        services.signup_bonus_grant(user=user)
        services.balance_adjust(
            account_id=account.pk, amount=40, reason="INTERNAL: ticket #4411, angry customer"
        )
        services.credits_charge(
            account_id=account.pk, amount=12, reference="gen_polish1", description="Imagen 4 Fast × 3"
        )
        services.credits_refund(
            account_id=account.pk, amount=12, reference="gen_polish1", description="Refund: kie_timeout"
        )
        paid = payments.topup_create(user=user, amount_cents=1000)
        payments.topup_checkout_start(
            topup=paid, email=user.email, success_url="http://t/s?session_id={CHECKOUT_SESSION_ID}",
            cancel_url="http://t/c",
        )  # fmt: skip
        TopUp.objects.filter(pk=paid.pk).update(sandbox_paid=True)
        payments.topup_fulfil_from_stripe(topup=TopUp.objects.get(pk=paid.pk))
        abandoned = payments.topup_create(user=user, amount_cents=2500)
        payments.topup_checkout_start(
            topup=abandoned, email=user.email, success_url="http://t/s?session_id={CHECKOUT_SESSION_ID}",
            cancel_url="http://t/c",
        )  # fmt: skip
        TopUp.objects.filter(pk=abandoned.pk).update(status=TopUpStatus.EXPIRED)
        return (TopUp.objects.get(pk=paid.pk), TopUp.objects.get(pk=abandoned.pk))

    return make
