"""What a newcomer's browser meets first: an icon instead of a 404 on every page, and a login page that says
why /api/docs/ sent them there."""

from __future__ import annotations

import pytest

from tests.factories import make_approver

pytestmark = pytest.mark.django_db


def test_the_favicon_is_served_from_our_own_static_files(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon" and "max-age=86400" in response["Cache-Control"]
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO file


def test_the_api_docs_login_page_says_why_it_asks_to_sign_in(client):
    page = client.get("/api/docs/", follow=True)
    assert page.redirect_chain == [("/admin/login/?next=/api/docs/", 302)]
    body = page.content.decode()
    assert "The API documentation is for the console&#x27;s users: sign in" in body and 'name="password"' in body

    client.force_login(make_approver())
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and "sign in with your console account" not in docs.content.decode()
