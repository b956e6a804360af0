"""Row writes and the payout lock for the hot paths (a B2C result, a send), as SQL built once per model and
column set.

Django's `Model.save()`, `QuerySet.create()/update()` and a locking `get()` compile their statement anew on
every call; on a B2C result, with its five writes and the lock, that compiling cost more Python time than
everything else the callback does. Measured in alternating rounds against the ORM (the figures:
bench/README.md, session 7; the list of hand-written SQL: docs/architecture.md), they earn more than the 10% a
hand-written path must, so they stay; the "status change and its event in one statement" they once had
measured no gain and is gone.

They keep what matters from the ORM: the model's columns, each field's `pre_save()` and `get_db_prep_save()`
conversions, the primary key set on the instance. They skip save()'s signals (no receiver listens to
pre_save/post_save of the models they write; notifications/recipients.py listens to NotificationRecipient,
which never comes here) and model `save()` overrides, so callers use them only for rows whose save() adds
nothing to an insert (AuditEvent, DarajaCallback, Notification) or for an update of named fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from django.db import DatabaseError, connection, models


@lru_cache(maxsize=128)
def _fields(model: type[models.Model], names: tuple[str, ...] | None) -> list:
    opts = model._meta
    if names is None:
        return [field for field in opts.concrete_fields if not field.primary_key]
    return [opts.get_field(name) for name in names]


def _columns(fields) -> str:
    return ", ".join(connection.ops.quote_name(field.column) for field in fields)


def _save_params(obj: models.Model, fields, add: bool) -> list:
    return [field.get_db_prep_save(field.pre_save(obj, add), connection) for field in fields]


def _stored(obj: models.Model, pk: int) -> None:
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = connection.alias


@lru_cache(maxsize=64)
def _insert_sql(
    model: type[models.Model], rows: int, conflict: str | None, computed: tuple[tuple[str, str], ...], vendor: str
) -> str:
    quote = connection.ops.quote_name
    fields = _fields(model, None)
    expressions = dict(computed)
    one_row = "(" + ", ".join(expressions.get(f.name, "%s") for f in fields) + ")"
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({_columns(fields)}) VALUES {', '.join([one_row] * rows)}"
    if conflict:
        sql += f" ON CONFLICT ({quote(model._meta.get_field(conflict).column)}) DO NOTHING"
    returned = [model._meta.pk.column] + [model._meta.get_field(name).column for name, _ in computed]
    return sql + f" RETURNING {', '.join(quote(column) for column in returned)}"


def insert_rows(objs: Sequence[models.Model], *, skip_conflicts_on: str | None = None) -> list[int]:
    """INSERT every object in one statement; returns the new primary keys in row order, and sets each
    object's pk when every row was inserted. `skip_conflicts_on`: a unique field; rows whose value already
    exists are skipped (`ON CONFLICT ... DO NOTHING`) and only the inserted rows' keys come back (Django's
    `bulk_create(ignore_conflicts=True)` returns no keys: the notification outbox needs them)."""
    if not objs:
        return []
    fields = _fields(type(objs[0]), None)
    params = [value for obj in objs for value in _save_params(obj, fields, True)]
    sql = _insert_sql(type(objs[0]), len(objs), skip_conflicts_on, (), connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        keys = [pk for (pk,) in cursor.fetchall()]
    if len(keys) == len(objs):
        for obj, pk in zip(objs, keys, strict=True):
            _stored(obj, pk)
    return keys


def insert_row(obj: models.Model, *, computed: dict[str, tuple[str, list]] | None = None) -> models.Model:
    """INSERT one object (its pk is set from the database); returns it.

    `computed`: field name -> (SQL expression, its parameters), for a value the database works out in the
    same statement (a foreign key looked up by another column, say); the instance gets the value it took."""
    if not computed:
        insert_rows([obj])
        return obj
    params = []
    for field in _fields(type(obj), None):
        if field.name in computed:
            params.extend(computed[field.name][1])
        else:
            params.append(field.get_db_prep_save(field.pre_save(obj, True), connection))
    shape = tuple((name, expression) for name, (expression, _) in computed.items())
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(type(obj), 1, None, shape, connection.vendor), params)
        pk, *values = cursor.fetchone()
    _stored(obj, pk)
    for name, value in zip(computed, values, strict=True):
        setattr(obj, type(obj)._meta.get_field(name).attname, value)
    return obj


@lru_cache(maxsize=64)
def _update_sql(model: type[models.Model], names: tuple[str, ...], where: tuple[str, ...], vendor: str) -> str:
    """`UPDATE <table> SET <names> = %s ... WHERE pk = %s [AND <where> = %s ...]`."""
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in _fields(model, names))
    conditions = " AND ".join(f"{quote(field.column)} = %s" for field in [model._meta.pk, *_fields(model, where)])
    return f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {conditions}"


def update_row(obj: models.Model, names: Sequence[str], *, where: dict | None = None) -> bool:
    """UPDATE the named fields of a stored object from its attributes (as `save(update_fields=...)`).

    `where`: field name -> value the row must still hold (a conditional update only one caller can win);
    returns whether the row matched. Without it, a row that is not there raises."""
    key, where = tuple(names), where or {}
    where_names = tuple(where)
    params = [
        *_save_params(obj, _fields(type(obj), key), False),
        obj.pk,
        *(field.get_db_prep_save(where[field.name], connection) for field in _fields(type(obj), where_names)),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(type(obj), key, where_names, connection.vendor), params)
        matched = cursor.rowcount == 1
    if not matched and not where:
        raise DatabaseError(f"{type(obj).__name__} #{obj.pk} was not updated (no such row).")
    return matched


@lru_cache(maxsize=32)
def _loader(model: type[models.Model], vendor: str) -> tuple[list[str], list]:
    """The attribute names of a model's columns, in order, and the converters any of them need."""
    fields = model._meta.concrete_fields
    converters = []
    for index, field in enumerate(fields):
        column = field.get_col(model._meta.db_table)
        found = field.get_db_converters(connection) + connection.ops.get_db_converters(column)
        if found:
            converters.append((index, column, found))
    return [field.attname for field in fields], converters


def selected_columns(model: type[models.Model], alias: str) -> str:
    """`alias.col1, alias.col2, ...` for every column, in the order `load_row` reads them. Named, not `*`: a
    prepared statement whose result shape changes when a migration adds a column fails."""
    return ", ".join(f"{alias}.{connection.ops.quote_name(field.column)}" for field in model._meta.concrete_fields)


def load_row(model: type[models.Model], row: Sequence) -> models.Model:
    """An instance from a row that starts with `selected_columns(model, ...)` (as Django would load it, without
    a queryset around it); values after them are ignored."""
    names, converters = _loader(model, connection.vendor)
    values = list(row[: len(names)])
    for index, column, found in converters:
        for convert in found:
            values[index] = convert(values[index], column, connection)
    return model.from_db(connection.alias, names, values)
