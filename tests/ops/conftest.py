"""Fixtures of the ops tests.

Reconciliation runs the real pipeline against the KIE simulator (the generation tests' fixtures);
the overview and the alerts count generations made directly.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.services import account_for_user
from catalog.models import AIModel
from generation.models import Generation, Status, public_id_new
from tests.generation import conftest as generation

# The generation tests' fixtures: funded users, tasks run in-process, the KIE simulator, a media folder.
fund, kie, media, tasks = generation.fund, generation.kie, generation.media, generation.tasks


@pytest.fixture
def make_generations(make_user):
    """Return make(n, slug=…, status=…, age=…, seconds=…, kie=Decimal or None, …): bulk-created rows."""
    owner = make_user("owner@example.com")
    account = account_for_user(user=owner)

    def make(
        n,
        *,
        slug="google/imagen4-fast",
        status=Status.SUCCEEDED,
        age=timedelta(hours=1),
        seconds=10,
        kie=Decimal("4"),
        usd=Decimal("0.02"),
        refunded=False,
        error_code="",
        now=None,
    ):
        now = now or timezone.now()
        model = AIModel.objects.get(slug=slug)
        price = model.prices.order_by("credits").first()
        created = now - age
        rows = [
            Generation(
                public_id=public_id_new(),
                owner=owner,
                account=account,
                model=model,
                price=price,
                unit_credits=price.credits,
                credits_charged=price.credits,
                images_requested=1,
                input={"prompt": "x"},
                status=status,
                refunded=refunded,
                refunded_credits=price.credits if refunded else 0,
                error_code=error_code,
                kie_credits_billed=kie,
                kie_cost_usd=usd if kie is not None else None,
                completed_at=created + timedelta(seconds=seconds) if status != Status.QUEUED else None,
            )
            for _ in range(n)
        ]
        made = Generation.objects.bulk_create(rows, batch_size=2000)
        # auto_now_add stamps "now"; put them where the test wants them in time.
        Generation.objects.filter(pk__gte=made[0].pk, pk__lte=made[-1].pk).update(created_at=created)
        return made

    return make
