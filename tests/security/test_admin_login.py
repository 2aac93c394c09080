"""/admin/ signs staff in through allauth's login, so its rate limits guard the admin too."""

import pytest

pytestmark = pytest.mark.django_db

RIGHT = "correct-horse-battery"
LOCKED = "Too many failed login attempts"


def test_the_admin_form_no_longer_takes_a_password(client, staff, verified):
    # given an attacker who tries 30 wrong passwords on the admin's own form
    verified(staff)
    for _ in range(30):
        client.post("/admin/login/", {"username": staff.email, "password": "wrong"})

    # when the right one is tried there too
    response = client.post("/admin/login/?next=/admin/", {"username": staff.email, "password": RIGHT})

    # then nobody is signed in: the form only sends people to allauth's login
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/?next=")
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def test_thirty_wrong_passwords_lock_the_admin_login(client, staff, verified):
    # given the login the admin sends staff to, after 30 wrong passwords
    verified(staff)
    login = client.get("/admin/login/?next=/admin/").url
    for _ in range(30):
        client.post(login, {"login": staff.email, "password": "wrong"})

    # when the right password comes
    response = client.post(login, {"login": staff.email, "password": RIGHT})

    # then it is refused too (allauth answers 429 past 30 attempts a minute, else a form error)
    assert response.status_code == 429 or LOCKED in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def test_a_superuser_signs_in_and_reaches_the_admin(client, staff, verified):
    verified(staff)
    login = client.get("/admin/login/?next=/admin/").url

    response = client.post(login, {"login": staff.email, "password": RIGHT})

    assert response.status_code == 302
    assert response.url == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_signed_in_user_who_is_not_staff_is_refused(client, alice):
    client.force_login(alice)

    assert client.get("/admin/login/").status_code == 403
