import pytest
from django.core.cache import cache
from django.db import connection

from artio.memo import memo_clear
from artio.models import User


def pytest_collection_modifyitems(config, items):
    """Skip PostgreSQL-only tests (races need real row locks) on SQLite."""
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


DATABASE_FIXTURES = {"db", "transactional_db", "live_server", "django_db_reset_sequences"}


@pytest.fixture
def fresh_cache(request):
    """Start and end the test with an empty cache (rate-limit counters), if it uses the database.

    The cache is a table of the test database (settings.CACHES), so the database is opened first,
    as the test would open it; a test without the database has no counters to clear.
    """
    if not (request.node.get_closest_marker("django_db") or DATABASE_FIXTURES & set(request.fixturenames)):
        yield
        return
    request.getfixturevalue("db")  # transactional all the same when the test asks for that
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _memo_forgotten():
    # A test's database is rolled back (or flushed), which bumps no memo version: start from nothing.
    memo_clear()
    yield
    memo_clear()


@pytest.fixture
def make_user(db):
    """Return a factory of active users with verified e-mail addresses."""
    counter = iter(range(1, 10_000))

    def make(email=None, password="correct-horse-battery", **extra):
        email = email or f"user{next(counter)}@example.com"
        return User.objects.create_user(email=email, password=password, **extra)

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice@example.com")


@pytest.fixture
def bob(make_user):
    return make_user("bob@example.com")


@pytest.fixture
def staff(make_user):
    return make_user("staff@example.com", is_staff=True, is_superuser=True)


# Fixtures of outside systems' simulators (KIE, Stripe), each in its own module.
pytest_plugins = ["tests.fixtures_kie", "tests.fixtures_browser"]
