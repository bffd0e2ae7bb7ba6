"""Set-based writes the ORM has no verb for: INSERT ... SELECT from a queryset.

Bulk actions on "all 1,000,000 matching" must never pull ids into Python; the database copies
the rows itself. Works on PostgreSQL and SQLite (both know ON CONFLICT DO NOTHING).
"""

from __future__ import annotations

from django.db import connections, models


def insert_select(
    model: type[models.Model], source: models.QuerySet, /, *, ignore_conflicts: bool = False, **columns
) -> int:
    """INSERT INTO model's table one row per row of ``source``; returns the number of rows inserted.

    ``columns`` maps a field of ``model`` (any name but ``ignore_conflicts``) to an expression over
    ``source`` (``F("pk")``) or a constant. With ``ignore_conflicts`` rows that would break a unique
    constraint are skipped, and the count says how many were really added.
    """
    connection = connections[source.db]
    aliases = {f"insert_col_{number}": name for number, name in enumerate(columns)}
    selected = (
        source.order_by()
        .annotate(**{alias: _expression(model._meta.get_field(name), columns[name]) for alias, name in aliases.items()})
        .values_list(*aliases)
    )
    select_sql, params = selected.query.get_compiler(using=source.db).as_sql()
    quote = connection.ops.quote_name
    targets = ", ".join(quote(model._meta.get_field(name).column) for name in columns)
    # The SELECT goes in bare (not as a derived table) so that PostgreSQL types its constants
    # from the target columns; Django always gives it a WHERE here, which SQLite needs before ON.
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({targets}) {select_sql}"
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _expression(field: models.Field, value: object) -> models.Expression:
    if hasattr(value, "resolve_expression"):
        return value
    # A constant is typed by its column (a foreign key by the key it holds), so None works too.
    return models.Value(value, output_field=field.target_field if field.is_relation else field)
