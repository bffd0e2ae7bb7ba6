"""Marketing works the inbox: reads conversations and their replies, replies, marks them read or done.

Replying also needs "Can add outbound message", which the group has had since 0005.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Marketing"
CODENAMES = ["view_conversation", "change_conversation", "view_inboundmessage"]


def grant(apps, schema_editor):
    app_config = apps.get_app_config("campaigns")
    # create_permissions skips app configs without a models module, which historical ones lack.
    kept = getattr(app_config, "models_module", None)
    app_config.models_module = kept or True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = kept
    group, _ = apps.get_model("auth", "Group").objects.get_or_create(name=GROUP)
    permissions = apps.get_model("auth", "Permission").objects.filter(
        content_type__app_label="campaigns", codename__in=CODENAMES
    )
    group.permissions.add(*permissions)


def revoke(apps, schema_editor):
    group = apps.get_model("auth", "Group").objects.filter(name=GROUP).first()
    if group:
        group.permissions.remove(*group.permissions.filter(codename__in=CODENAMES))


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("campaigns", "0016_conversations"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
