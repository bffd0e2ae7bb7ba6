"""The "Marketing" group: contacts, lists, imports, templates, campaigns, messages and bulk jobs.

Not channels' credentials, API keys or users: those are for administrators. Marketing may view
channels (the view-only page shows no credential values) so that it can pick one for a campaign.
Messages can be cancelled but never deleted (the history is what was sent).

Permissions are created here first: Django creates them only after all migrations ran, so on a
fresh database they would not exist yet.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Marketing"
ALL = ("view", "add", "change", "delete")
PERMISSIONS = {
    ("contacts", "contact"): ALL,
    ("contacts", "contactlist"): ALL,
    ("contacts", "listmembership"): ALL,
    ("contacts", "optinrecord"): ("view", "add"),  # re-subscribing is recorded, never undone silently
    ("campaigns", "messagetemplate"): ALL,
    ("campaigns", "campaign"): ALL,  # the admin refuses to delete a campaign that has messages
    ("campaigns", "bulkjob"): ("view", "change"),
    ("campaigns", "outboundmessage"): ("view", "add", "change"),
    ("providers", "channel"): ("view",),
}


def create_marketing_group(apps, schema_editor):
    for app_config in apps.get_app_configs():
        # create_permissions skips app configs without a models module, which historical ones lack.
        kept = getattr(app_config, "models_module", None)
        app_config.models_module = kept or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = kept
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    for (app_label, model), actions in PERMISSIONS.items():
        codenames = [f"{action}_{model}" for action in actions]
        found = Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
        group.permissions.add(*found)


def remove_marketing_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("campaigns", "0004_campaign_audience_window_guard"),
        ("contacts", "0002_opt_in_records_and_search_indexes"),
        ("providers", "0003_channel_price_per_segment"),
    ]

    operations = [migrations.RunPython(create_marketing_group, remove_marketing_group)]
