"""The OAuth token held in the client's memory: no shared-cache round trip while it is fresh, and nothing
held past the moment it is due for refresh or after Daraja refused it."""

from __future__ import annotations

import json

import responses

from daraja.client import DarajaClient
from tests.daraja.helpers import ACCEPTED, B2C_URL, FakeCache, add_token, make_config, pay


class CountingCache(FakeCache):
    def __init__(self, clock) -> None:
        super().__init__(clock)
        self.gets = 0
        self.sets = 0

    def get(self, key):
        self.gets += 1
        return super().get(key)

    def set(self, key, value, timeout):
        self.sets += 1
        return super().set(key, value, timeout)


def test_a_fresh_token_is_reused_without_asking_the_shared_cache(clock, mocked):
    cache = CountingCache(clock)
    client = DarajaClient(make_config(), cache, clock=clock)
    add_token(mocked, "tok-1", "3599")
    add_token(mocked, "tok-2", "3599")
    mocked.add(responses.POST, B2C_URL, json=ACCEPTED)

    pay(client, originator_conversation_id="a")
    assert (cache.gets, cache.sets) == (1, 1)  # nothing there yet: fetched and shared
    for n in range(5):
        clock.advance(600)  # up to 3000 s: still before the refresh point (3599 - 60)
        pay(client, originator_conversation_id=f"b{n}")
    assert (cache.gets, cache.sets) == (1, 1)  # held in memory: no round trip to the cache
    assert {c.request.headers["Authorization"] for c in mocked.calls if c.request.method == "POST"} == {
        "Bearer tok-1"
    }

    clock.advance(600)  # 3600 s: past the refresh point, the held token is not used any more
    pay(client, originator_conversation_id="c")
    assert cache.gets == 2  # the shared cache is asked first (another process may have refreshed)...
    assert mocked.calls[-1].request.headers["Authorization"] == "Bearer tok-2"  # ...then a new token fetched
    assert [c.request.method for c in mocked.calls].count("GET") == 2


def test_a_token_refreshed_by_another_process_is_taken_from_the_shared_cache_once_ours_is_due(clock, mocked):
    cache = FakeCache(clock)
    ours = DarajaClient(make_config(), cache, clock=clock)
    theirs = DarajaClient(make_config(), cache, clock=clock)
    add_token(mocked, "tok-1", "3599")
    assert ours.access_token(product="b2c") == "tok-1"
    clock.advance(3600)
    add_token(mocked, "tok-2", "3599")
    assert theirs.access_token(product="b2c") == "tok-2"  # the other process refreshed first
    assert ours.access_token(product="b2c") == "tok-2"  # ours was due: read from the shared cache, not fetched
    assert [c.request.method for c in mocked.calls] == ["GET", "GET"]


def test_a_held_token_daraja_refuses_is_forgotten_and_the_call_retried_once(clock, mocked):
    cache = CountingCache(clock)
    client = DarajaClient(make_config(), cache, clock=clock)
    add_token(mocked, "stale")
    add_token(mocked, "fresh")
    answers = iter(
        [
            (200, {}, json.dumps(ACCEPTED)),
            (401, {}, json.dumps({"errorCode": "401.002.01", "errorMessage": "Invalid Access Token"})),
            (200, {}, json.dumps(ACCEPTED)),
        ]
    )
    mocked.add_callback(responses.POST, B2C_URL, callback=lambda request: next(answers))

    pay(client, originator_conversation_id="a")  # fetches "stale" and holds it
    pay(client, originator_conversation_id="b")  # refused with the held token, retried once with a new one

    posts = [c.request.headers["Authorization"] for c in mocked.calls if c.request.method == "POST"]
    assert posts == ["Bearer stale", "Bearer stale", "Bearer fresh"]
    assert client.access_token(product="b2c") == "fresh"
    assert [c.request.method for c in mocked.calls].count("GET") == 2


def test_without_holding_tokens_every_call_asks_the_shared_cache(clock, mocked):
    cache = CountingCache(clock)
    client = DarajaClient(make_config(), cache, clock=clock, hold_tokens=False)
    add_token(mocked)
    client.access_token(product="b2c")
    client.access_token(product="b2c")
    assert cache.gets == 2
