"""Row writes for the hot paths (a B2C result, a send), as SQL built once per model and column set.

Django's `Model.save()` and `QuerySet.create()` compile their statement anew on every call; on a B2C result,
with four writes, that compiling cost more Python time than everything else the callback does
(bench/README.md). These helpers keep what matters from the ORM: the model's columns, each field's
`pre_save()` and `get_db_prep_save()` conversions, the primary key set on the instance. They skip save()'s
signals (no receiver listens to pre_save/post_save of the models they write; notifications/recipients.py
listens to NotificationRecipient, which never comes here) and model `save()` overrides, so callers use them
only for rows whose save() adds nothing to an insert (PayoutEvent, DarajaCallback, Notification) or for an
update of named fields.
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


def _insert_params(obj: models.Model) -> list:
    return _save_params(obj, _fields(type(obj), None), True)


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
    exists are skipped (`ON CONFLICT ... DO NOTHING`) and only the inserted rows' keys come back."""
    if not objs:
        return []
    params = [value for obj in objs for value in _insert_params(obj)]
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


def update_row(obj: models.Model, names: Sequence[str]) -> None:
    """UPDATE the named fields of a stored object from its attributes (as `save(update_fields=...)`)."""
    key = tuple(names)
    params = [*_save_params(obj, _fields(type(obj), key), False), obj.pk]
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(type(obj), key, (), connection.vendor), params)
        if cursor.rowcount != 1:
            raise DatabaseError(f"{type(obj).__name__} #{obj.pk} was not updated (no such row).")


def _insert_from_sql(model: type[models.Model], source: str) -> str:
    """`INSERT INTO <model> (...) SELECT %s, ... FROM <source> RETURNING pk`: one row per row of `source` (a
    WITH query), so the row is written only when the statement before it matched."""
    fields = _fields(model, None)
    return (
        f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({_columns(fields)})"
        f" SELECT {', '.join(['%s'] * len(fields))} FROM {source}"
        f" RETURNING {connection.ops.quote_name(model._meta.pk.column)}"
    )


@lru_cache(maxsize=64)
def _update_then_insert_sql(
    model: type[models.Model],
    names: tuple[str, ...],
    where: tuple[str, ...],
    new_model: type[models.Model],
    with_row: bool,
    vendor: str,
) -> str:
    """PostgreSQL: the UPDATE of `_update_sql` and the INSERT of `new_model` only if the UPDATE matched; the
    statement yields the new row's key, preceded by the updated row's columns when `with_row`."""
    table, key = connection.ops.quote_name(model._meta.db_table), connection.ops.quote_name(model._meta.pk.column)
    returning = selected_columns(model, table) if with_row else f"{table}.{key}"
    selected = "updated.*, " if with_row else ""
    return (
        f"WITH updated AS ({_update_sql(model, names, where, vendor)} RETURNING {returning}),"
        f" inserted AS ({_insert_from_sql(new_model, 'updated')})"
        f" SELECT {selected}inserted.{connection.ops.quote_name(new_model._meta.pk.column)}"
        " FROM updated, inserted"
    )


def update_where_then_insert(
    model: type[models.Model], pk, values: dict, where: dict, new: models.Model, *, with_row: bool = True
) -> models.Model | bool | None:
    """UPDATE row `pk` of `model` SET `values` if it still matches `where` (field name -> value), and INSERT
    `new` only if it did: the row as it now is (True instead when not `with_row`), or None when it no longer
    matched (nothing is written). A conditional update only one caller can win, with its event; one
    statement on PostgreSQL (a data-modifying WITH), elsewhere the UPDATE, a SELECT of the row and the
    INSERT."""
    names, where_names = tuple(values), tuple(where)
    params = [
        *(field.get_db_prep_save(values[field.name], connection) for field in _fields(model, names)),
        pk,
        *(field.get_db_prep_save(where[field.name], connection) for field in _fields(model, where_names)),
    ]
    if connection.vendor == "postgresql":
        sql = _update_then_insert_sql(model, names, where_names, type(new), with_row, connection.vendor)
        with connection.cursor() as cursor:
            cursor.execute(sql, params + _insert_params(new))
            row = cursor.fetchone()
        if row is None:
            return None
        _stored(new, row[-1])
        return load_row(model, row) if with_row else True
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(model, names, where_names, connection.vendor), params)
        if cursor.rowcount != 1:
            return None
        row = None
        if with_row:
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(
                f"SELECT {selected_columns(model, table)} FROM {table}"
                f" WHERE {connection.ops.quote_name(model._meta.pk.column)} = %s",
                [pk],
            )
            row = cursor.fetchone()
    insert_row(new)
    return load_row(model, row) if with_row else True


def update_row_then_insert(obj: models.Model, names: Sequence[str], new: models.Model) -> None:
    """`update_row(obj, names)` then `insert_row(new)`, for a row the caller holds locked (and so already has
    as it now is: the statement returns only the new row's key); on PostgreSQL one statement (see
    update_where_then_insert), so a status change and its event cost one round trip. Nothing is inserted when
    the row is not there, and that raises, as update_row does."""
    values = {name: getattr(obj, _fields(type(obj), (name,))[0].attname) for name in names}
    if update_where_then_insert(type(obj), obj.pk, values, {}, new, with_row=False) is None:
        raise DatabaseError(f"{type(obj).__name__} #{obj.pk} was not updated (no such row).")


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
