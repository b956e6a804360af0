"""Issue 15 part 4: a callback body sent with chunked transfer encoding (no Content-Length) is read up to the
size limit and stored, not stored empty. Through the Django test client with a server-like input stream, and
against a real gunicorn (deploy/gunicorn.conf.py), which decodes the chunks."""

from __future__ import annotations

import io
import json

import pytest
import requests
from django.urls import reverse

from payments.callbacks.tokens import static_token
from payments.models import CallbackOutcome, DarajaCallback, Payment
from tests.e2e.conftest import web_server  # noqa: F401 - fixtures, reused as they are
from tests.factories import sample
from tests.security.conftest import gunicorn  # noqa: F401

pytestmark = pytest.mark.django_db


def c2b_path() -> str:
    return reverse("callbacks:c2b-confirmation", kwargs={"token": static_token("c2b")})


def confirmation(receipt: str) -> bytes:
    body = sample("c2b_confirmation")
    body["TransID"] = receipt
    return json.dumps(body).encode()


def post_chunked(client, body: bytes):
    """What a WSGI server hands Django for a chunked request: no CONTENT_LENGTH, the decoded body on
    wsgi.input (a stream that simply ends)."""
    return client.generic(
        "POST",
        c2b_path(),
        content_type="application/json",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": io.BytesIO(body)},
    )


def test_chunked_body_is_read_stored_and_applied(client):
    body = confirmation("CHK0000001")
    response = post_chunked(client, body)

    assert response.status_code == 200
    callback = DarajaCallback.objects.get()
    assert callback.raw_body.encode() == body
    assert callback.outcome == CallbackOutcome.PROCESSED
    assert Payment.objects.filter(receipt="CHK0000001").count() == 1


def test_chunked_body_over_the_limit_is_413(client, settings):
    response = post_chunked(client, b" " * (settings.CALLBACK_MAX_BODY_BYTES + 1))
    assert response.status_code == 413
    assert DarajaCallback.objects.get().outcome == CallbackOutcome.REJECTED


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_chunked_body_through_a_real_gunicorn(gunicorn, settings):  # noqa: F811
    server = gunicorn()
    url = server.url + c2b_path()
    body = confirmation("CHK0000002")

    def chunks(data: bytes, size: int = 50):
        for start in range(0, len(data), size):
            yield data[start : start + size]

    # A generator body makes requests send Transfer-Encoding: chunked, with no Content-Length.
    response = requests.post(url, data=chunks(body), headers={"Content-Type": "application/json"}, timeout=15)
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in response.request.headers
    assert response.status_code == 200, response.text
    callback = DarajaCallback.objects.get()
    assert callback.raw_body.encode() == body
    assert Payment.objects.filter(receipt="CHK0000002").count() == 1

    too_big = chunks(b" " * (settings.CALLBACK_MAX_BODY_BYTES + 10), size=8192)
    response = requests.post(url, data=too_big, headers={"Content-Type": "application/json"}, timeout=15)
    assert response.status_code == 413
