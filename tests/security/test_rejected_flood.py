"""Issue 16, "rejected requests cannot fill the database": a refused request (address not allowed, unknown
URL, body too large) keeps a few named headers, not all it was sent with; beyond
CALLBACK_REJECTED_STORE_PER_MINUTE refused requests from one address in a minute they are answered and counted
(logged), not stored; and gunicorn itself refuses oversized request lines and header blocks before Django reads
them. Through the real routes (Django test client) and a real gunicorn."""

from __future__ import annotations

import json
import logging

import pytest
import requests
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse

from payments.callbacks.tokens import static_token
from payments.models import CallbackOutcome, DarajaCallback
from tests.clock import travel_to

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.77"


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()
    yield
    cache.clear()


def c2b_path() -> str:
    return reverse("callbacks:c2b-confirmation", kwargs={"token": static_token("c2b")})


def flood(client, n: int, *, ip: str = ATTACKER, path: str | None = None, **headers) -> list[int]:
    return [
        client.post(path or c2b_path(), data="{}", content_type="application/json", REMOTE_ADDR=ip, **headers)
        .status_code
        for _ in range(n)
    ]


def test_a_refused_request_keeps_only_a_few_kb_of_named_headers(client):
    junk = {f"HTTP_X_JUNK_{n}": "A" * 4000 for n in range(60)}  # ~240 KB of headers
    answers = flood(client, 1, HTTP_USER_AGENT="U" * 5000, HTTP_X_FORWARDED_FOR="198.51.100.1", **junk)

    assert answers == [403]
    stored = DarajaCallback.objects.get()
    assert stored.outcome == CallbackOutcome.REJECTED
    assert len(json.dumps(stored.headers)) < 3 * 1024
    assert set(stored.headers) <= {"Host", "User-Agent", "X-Forwarded-For", "Content-Type", "Content-Length",
                                   "Referer", "Accept", "X-Real-Ip", "Forwarded", "Content-Encoding",
                                   "Transfer-Encoding"}  # fmt: skip
    assert stored.headers["X-Forwarded-For"] == "198.51.100.1"
    assert stored.headers["User-Agent"] == "U" * 256


def test_an_unknown_payout_url_keeps_only_named_headers_too(client):
    path = reverse("callbacks:b2c-result", kwargs={"token": "ab" * 20})
    junk = {f"HTTP_X_JUNK_{n}": "B" * 4000 for n in range(30)}
    assert flood(client, 1, ip="127.0.0.1", path=path, **junk) == [404]
    assert len(json.dumps(DarajaCallback.objects.get().headers)) < 3 * 1024


# The count is per clock minute: a flood that ran across a minute's end would be counted twice, so the tests
# that count stand still in the middle of one minute rather than only asserting when they happened not to cross.
MID_MINUTE = "2026-12-09T12:00:20+03:00"


@override_settings(CALLBACK_REJECTED_STORE_PER_MINUTE=10)
@travel_to(MID_MINUTE, tick=False)
def test_beyond_the_rate_refused_requests_are_counted_not_stored(client, caplog):
    with caplog.at_level(logging.WARNING, logger="payments.callbacks"):
        answers = flood(client, 40)

    assert answers == [403] * 40  # every one is still answered
    assert DarajaCallback.objects.filter(source_ip=ATTACKER).count() == 10
    assert f"callback requests refused from ip={ATTACKER}: 11 this minute" in caplog.text
    assert "counted, not stored" in caplog.text

    # Another address has its own count.
    assert flood(client, 1, ip="198.51.100.9") == [403]
    assert DarajaCallback.objects.filter(source_ip="198.51.100.9").count() == 1


@override_settings(CALLBACK_REJECTED_STORE_PER_MINUTE=3)
@travel_to(MID_MINUTE, tick=False)
def test_unknown_payout_urls_beyond_the_rate_are_not_kept_either(client):
    paths = [reverse("callbacks:b2c-result", kwargs={"token": f"{n:040x}"}) for n in range(8)]
    answers = [flood(client, 1, ip="127.0.0.1", path=path)[0] for path in paths]
    assert answers == [404] * 8
    assert DarajaCallback.objects.count() == 3


@override_settings(CALLBACK_REJECTED_STORE_PER_MINUTE=0)
def test_the_rate_is_a_setting_zero_stores_none(client):
    assert flood(client, 5) == [403] * 5
    assert not DarajaCallback.objects.exists()


# --- gunicorn's own limits (deploy/gunicorn.conf.py) ---------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_gunicorn_refuses_oversized_request_lines_and_headers_before_django(gunicorn):
    server = gunicorn()
    url = server.url + reverse("callbacks:c2b-validation", kwargs={"token": static_token("c2b")})

    def post(target: str = url, **headers) -> int:
        return requests.post(target, data="{}", headers={"Content-Type": "application/json", **headers},
                             timeout=15).status_code  # fmt: skip

    assert post() == 200  # an ordinary request passes
    assert post(**{"X-Junk": "A" * 6000}) in (400, 431)  # one header over 4 KB
    assert post(**{f"X-Junk-{n}": "x" for n in range(60)}) in (400, 431)  # more than 40 header fields
    assert post(url + "?" + "q" * 3000) in (400, 414)  # a request line over 2 KB
    stored = list(DarajaCallback.objects.values_list("http_status", flat=True))
    assert stored == [200]  # only the ordinary one reached Django
