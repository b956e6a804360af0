"""One hand-written INSERT: many rows in one statement, skipping those whose unique key already exists.

The notification outbox (notifications/outbox.py) writes every alert of a state change with
`INSERT ... ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`: one round trip, and the keys of the rows
actually inserted (so only those are handed to the sender). Django's `bulk_create(ignore_conflicts=True)`
returns no keys on a conflict, which is why this stays. The statement is built once per model and row
count. It keeps what matters from the ORM (the model's columns, each field's `pre_save()` and
`get_db_prep_save()` conversions) and skips save()'s signals and `save()` overrides: use it only for rows
whose save() adds nothing to an insert.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from django.db import connection, models


@lru_cache(maxsize=32)
def _fields(model: type[models.Model]) -> list:
    return [field for field in model._meta.concrete_fields if not field.primary_key]


@lru_cache(maxsize=64)
def _insert_sql(model: type[models.Model], rows: int, conflict: str | None, vendor: str) -> str:
    quote = connection.ops.quote_name
    fields = _fields(model)
    columns = ", ".join(quote(field.column) for field in fields)
    one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES {', '.join([one_row] * rows)}"
    if conflict:
        sql += f" ON CONFLICT ({quote(model._meta.get_field(conflict).column)}) DO NOTHING"
    return sql + f" RETURNING {quote(model._meta.pk.column)}"


def insert_rows(objs: Sequence[models.Model], *, skip_conflicts_on: str | None = None) -> list[int]:
    """INSERT every object in one statement; returns the new primary keys in row order, and sets each
    object's pk when every row was inserted. `skip_conflicts_on`: a unique field; rows whose value already
    exists are skipped (`ON CONFLICT ... DO NOTHING`) and only the inserted rows' keys come back."""
    if not objs:
        return []
    fields = _fields(type(objs[0]))
    params = [field.get_db_prep_save(field.pre_save(obj, True), connection) for obj in objs for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(type(objs[0]), len(objs), skip_conflicts_on, connection.vendor), params)
        keys = [pk for (pk,) in cursor.fetchall()]
    if len(keys) == len(objs):
        for obj, pk in zip(objs, keys, strict=True):
            obj.pk = pk
            obj._state.adding = False
            obj._state.db = connection.alias
    return keys
