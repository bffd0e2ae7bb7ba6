"""Migration operations that build an index on the message table without stopping sends.

On PostgreSQL, CREATE INDEX CONCURRENTLY: the table (millions of rows) keeps taking writes while the
index is built. Other databases build it the ordinary way. A migration using them says
``atomic = False`` (CONCURRENTLY cannot run in a transaction).
"""

from __future__ import annotations

from django.db import migrations


class AddIndexWithoutBlockingSends(migrations.AddIndex):
    """AddIndex, built concurrently on PostgreSQL."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, concurrently=True)
        return None

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, concurrently=True)
        return None


class DropForeignKeyIndexWithoutBlockingSends(migrations.AlterField):
    """A foreign key made ``db_index=False`` because a wider index now serves it: its index is dropped,
    on PostgreSQL with DROP INDEX CONCURRENTLY. (Django's AlterField would also drop and re-add the
    foreign key constraint, re-checking every row while writes wait.)"""

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        how = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
        column = model._meta.get_field(self.name).column
        for name in column_indexes(schema_editor.connection, model._meta.db_table, column):
            schema_editor.execute(f"DROP INDEX {how}{schema_editor.quote_name(name)}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        field = model._meta.get_field(self.name)
        concurrently = {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}
        schema_editor.execute(schema_editor._create_index_sql(model, fields=[field], **concurrently))


def column_indexes(connection, table: str, column: str) -> list[str]:
    """Names of the plain (not unique) indexes on exactly this one column."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return [
        name
        for name, about in constraints.items()
        if about["index"] and about["columns"] == [column] and not about["unique"] and not about["primary_key"]
    ]
