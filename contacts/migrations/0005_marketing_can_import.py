"""The Marketing group may see contact imports (staff import with the contact permissions)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Marketing"
CODENAMES = ["view_contactimport", "add_contactimport", "change_contactimport"]


def grant(apps, schema_editor):
    app_config = apps.get_app_config("contacts")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    group, _ = apps.get_model("auth", "Group").objects.get_or_create(name=GROUP)
    permissions = apps.get_model("auth", "Permission").objects.filter(
        content_type__app_label="contacts", codename__in=CODENAMES
    )
    group.permissions.add(*permissions)


def revoke(apps, schema_editor):
    group = apps.get_model("auth", "Group").objects.filter(name=GROUP).first()
    if group:
        group.permissions.remove(*group.permissions.filter(codename__in=CODENAMES))


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0004_contact_import"),
        ("campaigns", "0005_marketing_group"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
