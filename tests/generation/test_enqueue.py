"""Handing the dispatch to django-q2's real ORM broker: the queue row commits with the generation."""

import pytest
from django.db import transaction
from django_q.models import OrmQ

from generation import pipeline, services
from generation.models import Generation

FAST = "google/imagen4-fast"


class Rollback(Exception):
    pass


@pytest.mark.django_db(transaction=True)
def test_the_dispatch_task_is_queued_in_the_same_transaction_as_the_generation(alice, fund):
    assert pipeline.broker_in_database()  # the tests, like `make run`, use the ORM broker
    fund(alice, 20)
    # when the surrounding transaction rolls back, neither the generation nor its task is left
    with pytest.raises(Rollback), transaction.atomic():
        services.generation_create(user=alice, model_slug=FAST, data={"prompt": "rolled back"})
        assert OrmQ.objects.count() == 1  # written inside the transaction, not after it
        raise Rollback
    assert not Generation.objects.exists() and OrmQ.objects.count() == 0
    # and when it commits, both are there
    services.generation_create(user=alice, model_slug=FAST, data={"prompt": "kept"})
    [queued] = OrmQ.objects.all()
    assert queued.task["func"] == "generation.tasks.generation_dispatch" and queued.task["args"] == ()
    # on the dispatcher's own queue, which only `Q_CLUSTER_NAME=dispatch manage.py qcluster` reads
    assert queued.key == pipeline.DISPATCH_CLUSTER
