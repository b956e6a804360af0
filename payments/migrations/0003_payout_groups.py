"""The two roles of the four-eyes workflow."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from payments.roles import GROUP_PERMISSIONS, ensure_groups


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations; make them now so the groups can hold them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    ensure_groups(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUP_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [("payments", "0002_append_only_events"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_groups, remove_groups)]
