"""`manage.py create_api_key --rate-limit`: enterprise partners get their own request rate."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from artio.errors import ArtioError
from artio.models import ApiKey, PartnerSettings
from artio.services import api_key_create, partner_rate_limit_set

from .conftest import client_for

pytestmark = pytest.mark.django_db


def key_from(out):
    return out.getvalue().split("store it now): ")[1].split()[0]


def test_rate_limit_option_sets_the_accounts_rate_and_the_api_holds_it(alice):
    out = StringIO()

    call_command("create_api_key", alice.email, "--name", "enterprise", "--rate-limit", "3", stdout=out)

    partner = PartnerSettings.objects.get(user=alice)
    assert partner.rate_limit_per_minute == 3
    assert partner.webhook_secret in out.getvalue()
    assert "3 requests per minute" in out.getvalue()
    api = client_for(key_from(out))
    assert [api.get("/api/v1/balance").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_rate_limit_applies_to_every_key_of_the_account(alice):
    _key, older = api_key_create(user=alice, name="older")

    call_command("create_api_key", alice.email, "--rate-limit", "2", stdout=StringIO())

    api = client_for(older)
    assert [api.get("/api/v1/balance").status_code for _ in range(3)] == [200, 200, 429]


def test_raising_the_rate_lets_a_partner_past_the_default(alice):
    out = StringIO()

    call_command("create_api_key", alice.email, "--rate-limit", "600", stdout=out)

    api = client_for(key_from(out))
    assert {api.get("/api/v1/ledger").status_code for _ in range(121)} == {200}


def test_without_the_option_the_rate_stays_as_it_was(alice):
    partner_rate_limit_set(user=alice, per_minute=500)

    call_command("create_api_key", alice.email, stdout=StringIO())

    assert PartnerSettings.objects.get(user=alice).rate_limit_per_minute == 500


@pytest.mark.parametrize("raw", ["0", "-5", "abc", "2.5", "", "٣", "1" * 11])
def test_a_rate_that_is_not_a_positive_whole_number_is_refused_and_creates_no_key(alice, raw):
    with pytest.raises(CommandError, match="whole number of requests per minute"):
        call_command("create_api_key", alice.email, "--rate-limit", raw, stdout=StringIO())

    assert not ApiKey.objects.filter(user=alice).exists()
    assert not PartnerSettings.objects.filter(user=alice).exists()


def test_a_rate_past_the_columns_range_is_refused_and_creates_no_key(alice):
    with pytest.raises(CommandError, match="from 1 to 2147483647"):
        call_command("create_api_key", alice.email, "--rate-limit", "2147483648", stdout=StringIO())

    assert not ApiKey.objects.filter(user=alice).exists()


@pytest.mark.parametrize("value", [0, -1, True, "60", 2**31])
def test_the_service_refuses_what_is_not_a_rate(alice, value):
    with pytest.raises(ArtioError):
        partner_rate_limit_set(user=alice, per_minute=value)

    assert not PartnerSettings.objects.filter(user=alice).exists()
