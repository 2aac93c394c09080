import pytest
from allauth.account.models import EmailAddress


@pytest.fixture(autouse=True)
def _fresh_cache(fresh_cache):
    # allauth keeps its rate-limit counters in the cache; each test starts and ends with none.
    yield


@pytest.fixture
def verified():
    """Return a function that marks a user's e-mail address verified, as allauth's login requires."""

    def verify(user):
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
        return user

    return verify
