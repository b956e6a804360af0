"""The two roles of the four-eyes workflow."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

REQUESTERS = "Payout requesters"
APPROVERS = "Payout approvers"

# Requesters may request and see; approvers may approve/reject and see. Nobody may delete money records.
GROUP_PERMISSIONS = {
    REQUESTERS: ["request_payout", "view_payout", "view_payment", "view_payoutbatch", "add_payoutbatch",
                 "view_darajacallback", "view_payoutevent"],
    APPROVERS: ["approve_payout", "view_payout", "view_payment", "view_payoutbatch",
                "view_darajacallback", "view_payoutevent", "view_floatbalance"],
}


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations; make them now so the groups can hold them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = Permission.objects.filter(content_type__app_label="payments", codename__in=codenames)
        group.permissions.add(*perms)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUP_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [("payments", "0002_append_only_events"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_groups, remove_groups)]
