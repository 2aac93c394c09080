"""The error pages are Artio's own, not Django's bare ones (which have no viewport and no way back)."""

import pytest
from django.template.loader import get_template
from django.test import Client


@pytest.mark.django_db
def test_a_missing_page_is_a_branded_404_with_a_way_on(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    html = response.content.decode()
    assert "We could not find that page" in html and 'name="viewport"' in html
    assert 'href="/"' in html


@pytest.mark.django_db
def test_a_form_without_its_csrf_cookie_gets_the_branded_403(alice):
    strict = Client(enforce_csrf_checks=True)

    response = strict.post("/accounts/login/", {"login": alice.email, "password": "x"})

    assert response.status_code == 403
    html = response.content.decode()
    assert "That form had expired" in html and "nothing was charged" in html


def test_the_500_page_renders_with_no_request_and_no_database():
    # Django's server_error renders it with an empty context: nothing in it may need more.
    html = get_template("500.html").render()

    assert "Something went wrong on our side" in html and "css/artio" in html
