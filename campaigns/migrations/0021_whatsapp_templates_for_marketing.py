"""Marketing may view the synced WhatsApp templates (and how the syncs went): they pick templates for campaigns."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Marketing"
CODENAMES = ["view_whatsapptemplate", "view_templatesync"]


def allow_marketing(apps, schema_editor):
    app_config = apps.get_app_config("campaigns")
    kept = getattr(app_config, "models_module", None)
    app_config.models_module = kept or True  # historical app configs lack one; create_permissions needs it
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = kept
    group = apps.get_model("auth", "Group").objects.filter(name=GROUP).first()
    if group is not None:
        found = apps.get_model("auth", "Permission").objects.filter(
            content_type__app_label="campaigns", codename__in=CODENAMES
        )
        group.permissions.add(*found)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0020_whatsapp_templates")]

    operations = [migrations.RunPython(allow_marketing, migrations.RunPython.noop)]
