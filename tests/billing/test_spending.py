"""Who may spend: a frozen or negative account cannot generate, through the generation service itself."""

import pytest

from artio.errors import ArtioError
from billing.models import Account, LedgerEntry, LedgerKind
from generation import services as generation_services
from generation.models import Generation

from .conftest import charge_obj, dispute_obj, make_event, session_obj

pytestmark = pytest.mark.django_db

FAST = "google/imagen4-fast"  # 4 credits an image, free plan (the seeded catalogue)


def _generate(user):
    return generation_services.generation_create(user=user, model_slug=FAST, data={"prompt": "a cat"})


def _charges():
    return LedgerEntry.objects.filter(kind=LedgerKind.GENERATION_CHARGE).count()


def test_refund_debt_blocks_generation_until_topped_up(alice, make_topup, post_event):
    # given credits spent, then the whole payment refunded: the balance is a debt
    topup = make_topup(alice)
    post_event(make_event("checkout.session.completed", session_obj(topup)))
    _generate(alice)
    post_event(make_event("charge.refunded", charge_obj(topup, amount_refunded=1000)))
    assert Account.objects.get(user=alice).balance == -4

    # when the user tries to generate again
    with pytest.raises(ArtioError) as refused:
        _generate(alice)

    # then it is refused as insufficient credits, and nothing was charged or created
    assert refused.value.code == "insufficient_credits"
    assert (Generation.objects.count(), _charges()) == (1, 1)
    assert Account.objects.get(user=alice).balance == -4


def test_disputed_account_cannot_generate_despite_a_positive_balance(alice, make_topup, post_event):
    first, second = make_topup(alice), make_topup(alice)
    for topup in (first, second):
        post_event(make_event("checkout.session.completed", session_obj(topup)))
    post_event(make_event("charge.dispute.created", dispute_obj(first, status="needs_response")))
    assert Account.objects.get(user=alice).balance == 2000  # the other top-up's credits remain

    with pytest.raises(ArtioError) as refused:
        _generate(alice)

    assert refused.value.code == "account_frozen"
    assert not Generation.objects.exists()
    assert _charges() == 0
