"""A worker that survives its broker: one correction to kombu's Redis transport (kombu 5.7).

Measured: stopping and starting Redis while a threads-pool worker sent payouts made it log
`Unrecoverable error: AttributeError("'NoneType' object has no attribute 'hostname'")` and exit for good.
On the second loss of the connection Celery's consumer closes the old connection before reconnecting
(`on_connection_error_after_connected`); closing its default channel restores the unacknowledged messages,
which asks that channel for a Redis client, whose parameters come from the channel's transport, whose
`client` (the kombu Connection) the first loss had already cleared. The AttributeError is not one of the
transport's connection errors, so the consumer's `ignore_errors` does not catch it and the worker stops.

A channel whose connection is gone now raises redis's ConnectionError instead: a connection error, which
the consumer ignores while closing, and then reconnects as it does for any other (it retries for as long as
the broker is away: CELERY_BROKER_CONNECTION_MAX_RETRIES = None). What the channel would have restored is
restored anyway: Redis hands unacknowledged messages back after CELERY_VISIBILITY_TIMEOUT, and a message a
restarted, empty Redis lost is sent by beat's sweep; a payout is claimed once, so none is sent twice.
Checked by tests/security/test_worker_broker_restart.py.
"""

from __future__ import annotations

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

_connparams = kombu_redis.Channel._connparams


def _connparams_of_a_live_connection(self, asynchronous=False):
    transport = self.connection
    if transport is None or getattr(transport, "client", None) is None:
        raise RedisConnectionError("the broker connection of this channel was already closed")
    return _connparams(self, asynchronous=asynchronous)


def install() -> None:
    if kombu_redis.Channel._connparams is not _connparams_of_a_live_connection:
        kombu_redis.Channel._connparams = _connparams_of_a_live_connection
