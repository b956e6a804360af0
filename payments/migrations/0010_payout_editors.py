"""Who changed a payout (PayoutEditor), and on PostgreSQL a trigger that refuses an approval by someone who
changed its amount, phone or CommandID, as the CHECK approval_not_by_requester refuses one by its requester.
The rule these hold is written once in Python, in payments/payouts/four_eyes.py: change them together."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

CREATE = """
CREATE OR REPLACE FUNCTION payments_approval_not_by_editor() RETURNS trigger AS $$
BEGIN
    -- The four-eyes rule of payments/payouts/four_eyes.py: no approval by an editor of what is paid.
    -- An active approval only: voiding one (an UPDATE setting voided_at) is always allowed.
    IF NEW.voided_at IS NULL AND EXISTS (
        SELECT 1 FROM payments_payouteditor e
        WHERE e.payout_id = NEW.payout_id AND e.user_id = NEW.approver_id AND e.changed_bound
    ) THEN
        RAISE EXCEPTION 'approval_not_by_editor: user %% changed payout %%', NEW.approver_id, NEW.payout_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS payments_approval_not_by_editor ON payments_payoutapproval;
CREATE TRIGGER payments_approval_not_by_editor BEFORE INSERT OR UPDATE ON payments_payoutapproval
    FOR EACH ROW EXECUTE FUNCTION payments_approval_not_by_editor();
"""
DROP = """
DROP TRIGGER IF EXISTS payments_approval_not_by_editor ON payments_payoutapproval;
DROP FUNCTION IF EXISTS payments_approval_not_by_editor();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0009_payment_phone_hash_refund_unreserved'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='PayoutEditor',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('changed_bound', models.BooleanField(default=False)),
                ('fields', models.JSONField(blank=True, default=list)),
                ('first_edited_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('last_edited_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('payout', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='editors', to='payments.payout')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['first_edited_at', 'id'],
                'constraints': [models.UniqueConstraint(fields=('payout', 'user'), name='one_editor_row_per_user')],
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
