"""Single-row writes and reads for the labeler hot path, without the ORM's query compiler.

On the 2-core reference machine, the ORM spends ~0.4 ms of Python per single-row statement
compiling it, more than PostgreSQL spends running it (bench/labeler_load.py; docs/benchmarks.md). These helpers build
the SQL of an INSERT or UPDATE once per model and field set, and still run every value through
its field's `pre_save` and `get_db_prep_save`, so defaults, `auto_now_add`, JSON and datetime
adaptation behave as with `save()`. No signals are sent (no model here listens to any).

    ranking = row_insert(Ranking(task=task, assignment=a, labeler=user, tiers=[[3], [1, 2]]))
    row_update(assignment, ["state", "finished_at"])
    rows = sql_rows("SELECT id FROM annotate_task WHERE project_id = %s", [project.pk])
    tasks = row_objects(Task, "SELECT * FROM annotate_task WHERE id = %s FOR UPDATE", [task_id])

Measured on that machine (in-process CPU per statement): a plain cursor 0.17 ms, the same
statement through `Model.objects.raw()` 0.32 ms, through the ORM 0.55 ms. Each helper looks the
connection up once (`connections[alias]`): every attribute read through the `django.db.connection`
proxy is a thread-local lookup (using the proxy throughout cost 6 % of the instructions of a
labeler's next + submit cycle; docs/benchmarks.md).
"""
from __future__ import annotations

from functools import lru_cache

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model


def sql_rows(sql: str, params: list | tuple) -> list[tuple]:
    """Run one query (a SELECT, or a write with RETURNING) on the default connection; its rows."""
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


_column_names: dict[tuple[str, int], tuple[str, ...]] = {}


def _columns(cursor, sql: str, width: int) -> tuple[str, ...]:
    """The result's column names. psycopg builds a Column object per column whenever
    `description` is read (~0.1 ms for a task row joined with its project); the names of one
    statement's result do not change while the schema does not, so they are read once per
    statement text and width."""
    key = (sql, width)
    names = _column_names.get(key)
    if names is None:
        if len(_column_names) > 1000:  # statements are the code's constants; this bounds odd uses
            _column_names.clear()
        names = _column_names[key] = tuple(c[0] for c in cursor.description)
    return names


@lru_cache(maxsize=256)
def _loader(model: type[Model], columns: tuple[str, ...], prefix: str = "", skip: tuple[str, ...] = ()) -> tuple:
    """For a result's column names: the model's attnames in field order, where each comes from
    in the row, its converters (as the ORM's compiler would apply them), and extra columns.
    Only columns named `prefix` + column count (none starting with a `skip` prefix); extras only
    for the main model (prefix "")."""
    meta = model._meta
    by_column = {f.column: f for f in meta.concrete_fields}
    index = {name[len(prefix):]: i for i, name in enumerate(columns)
             if name.startswith(prefix) and not name.startswith(skip or ("\0",))}
    fields = [(f.attname, index[f.column], tuple(
        connection.ops.get_db_converters(f.get_col(meta.db_table)) + f.get_col(meta.db_table).get_db_converters(connection)),
        f.get_col(meta.db_table)) for f in meta.concrete_fields if f.column in index]
    extras = () if prefix else tuple((name, i) for name, i in index.items() if name not in by_column)
    return tuple(name for name, *_ in fields), tuple(fields), extras


def _load(db, model: type[Model], row: tuple, loader: tuple) -> Model:
    attnames, fields, extras = loader
    values = []
    for _, i, converters, expression in fields:
        value = row[i]
        for converter in converters:
            value = converter(value, expression, db)
        values.append(value)
    obj = model.from_db(db.alias, attnames, values)
    for name, i in extras:
        setattr(obj, name, row[i])
    return obj


@lru_cache(maxsize=64)
def joined_columns(model: type[Model], alias: str, name: str) -> str:
    """The select list `alias.col AS "name__col", …` of every column of `model`, for a row that
    row_objects(..., joined={name: model}) loads as the related object `name`."""
    qn = connection.ops.quote_name
    return ", ".join(f"{alias}.{qn(f.column)} AS {qn(f'{name}__{f.column}')}" for f in model._meta.concrete_fields)


def row_objects(model: type[Model], sql: str, params: list | tuple,
                joined: dict[str, type[Model]] | None = None) -> list[Model]:
    """Model instances from one SELECT (like `model.objects.raw(sql, params)`, at half the cost).
    Columns that are not the model's fields become plain attributes, unconverted. With `joined`,
    the columns selected with joined_columns(related model, alias, name) become the related
    object `name` of each instance (one statement instead of two)."""
    db = connections[DEFAULT_DB_ALIAS]
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        if not rows:
            return []
        columns = _columns(cursor, sql, len(rows[0]))
    prefixes = tuple(f"{name}__" for name in joined or ())
    loader = _loader(model, columns, "", prefixes)
    related = [(name, rel, _loader(rel, columns, f"{name}__")) for name, rel in (joined or {}).items()]
    out = []
    for row in rows:
        obj = _load(db, model, row, loader)
        for name, rel, rel_loader in related:
            setattr(obj, name, _load(db, rel, row, rel_loader))
        out.append(obj)
    return out


@lru_cache(maxsize=64)
def _insert_sql(model: type[Model], returning: bool) -> tuple[str, tuple]:
    meta = model._meta
    fields = tuple(f for f in meta.concrete_fields if f is not meta.pk)
    qn = connection.ops.quote_name
    sql = (f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f in fields)})"
           f" VALUES ({', '.join(['%s'] * len(fields))})")
    if returning:
        sql += f" RETURNING {qn(meta.pk.column)}"
    return sql, fields


def row_insert(obj: Model, *updates: tuple[Model, list[str] | tuple[str, ...]]) -> Model:
    """INSERT one new row for `obj` (primary key generated by the database) and set its pk.
    (obj, names) pairs in `updates` are written as by row_update: on PostgreSQL in the same
    statement (WITH clauses before the INSERT, so one round trip), elsewhere after it."""
    db = connections[DEFAULT_DB_ALIAS]
    returning = db.features.can_return_columns_from_insert
    sql, fields = _insert_sql(type(obj), returning)
    params = [f.get_db_prep_save(f.pre_save(obj, True), db) for f in fields]
    after = _update_statements(db, updates)
    if after and db.vendor == "postgresql":
        (sql, params), after = _chained(after, sql, params), []
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        obj.pk = cursor.fetchone()[0] if returning else cursor.lastrowid
        for update_sql, update_params in after:
            cursor.execute(update_sql, update_params)
    obj._state.adding, obj._state.db = False, db.alias
    return obj


@lru_cache(maxsize=256)
def _update_sql(model: type[Model], names: tuple[str, ...]) -> tuple[str, tuple]:
    meta = model._meta
    fields = tuple(meta.get_field(n) for n in names)
    qn = connection.ops.quote_name
    sets = ", ".join(f"{qn(f.column)} = %s" for f in fields)
    return f"UPDATE {qn(meta.db_table)} SET {sets} WHERE {qn(meta.pk.column)} = %s", fields


def row_update(obj: Model, names: list[str] | tuple[str, ...], *more: tuple[Model, list[str] | tuple[str, ...]]) -> None:
    """UPDATE the named fields of an existing row from `obj` (like save(update_fields=...)).
    Further (obj, names) pairs are updated too: on PostgreSQL in the same statement (each
    UPDATE but the last as a WITH clause), so one round trip; elsewhere one statement each."""
    db = connections[DEFAULT_DB_ALIAS]
    statements = _update_statements(db, ((obj, names), *more))
    if len(statements) > 1 and db.vendor == "postgresql":
        *first, last = statements
        statements = [_chained(first, *last)]
    with db.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)


def _update_statements(db, pairs) -> list[tuple[str, list]]:
    """(sql, params) of one UPDATE per (obj, names) pair with names."""
    statements = []
    for o, n in pairs:
        if n:
            sql, fields = _update_sql(type(o), tuple(n))
            statements.append((sql, [*(f.get_db_prep_save(f.pre_save(o, False), db) for f in fields), o.pk]))
    return statements


def _chained(first: list[tuple[str, list]], sql: str, params: list) -> tuple[str, list]:
    """PostgreSQL: the `first` statements as WITH clauses of the last one, a single statement."""
    return ("WITH " + ", ".join(f"u{i} AS ({s})" for i, (s, _) in enumerate(first)) + " " + sql,
            [p for _, ps in first for p in ps] + list(params))
