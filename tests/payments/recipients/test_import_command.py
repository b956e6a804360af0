"""`manage.py recipients_import`: a preview by default, `--save` saves the valid rows pending approval under
one import; an unreadable file or an unknown user is exit 2 with nothing saved."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from payments.models import AuditEvent, Recipient, RecipientImport
from tests.payments.factories import make_approver, make_requester
from tests.payments.recipients.helpers import api
from tests.payments.recipients.test_console import IMPORT_CSV

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(IMPORT_CSV)
    return path


def run(*args) -> tuple[str, int]:
    from io import StringIO

    out = StringIO()
    try:
        call_command("recipients_import", *args, stdout=out)
    except SystemExit as exc:
        return out.getvalue(), exc.code
    return out.getvalue(), 0


def test_the_preview_saves_nothing_and_names_each_refused_line(people):
    make_requester("rita")
    out, code = run(str(people), "--user", "rita")
    assert code == 1
    assert "line 3: Acme Supplies (Paybill 888880, account ACC-7)" in out
    assert "line 4 refused:" in out and "line 5 refused: the reference 'TR-001' is also on line 2." in out
    assert "Preview only (2 valid, 2 refused)" in out
    assert not Recipient.objects.exists()


def test_save_makes_recipients_that_wait_for_another_persons_approval(people):
    rita = make_requester("rita")
    out, _ = run(str(people), "--user", "rita", "--save", "--name", "Trainers")
    batch = RecipientImport.objects.get()
    assert (batch.name, batch.uploaded_by) == ("Trainers", rita)
    assert f"Import #{batch.pk} saved 2 valid, 2 refused" in out
    jane = Recipient.objects.get(external_reference="TR-001")
    assert jane.status == "pending_approval"
    assert AuditEvent.objects.filter(recipient=jane, action="recipient_created", source="command").exists()
    # The uploader cannot approve them; an approver can, through the API as through the console.
    assert api(make_approver("alan")).post(f"/api/recipients/{jane.pk}/approve/").json()["status"] == "active"


def test_an_unknown_user_or_an_unreadable_file_is_exit_2(people, tmp_path):
    with pytest.raises(CommandError) as unknown:
        call_command("recipients_import", str(people), "--user", "nobody")
    assert unknown.value.returncode == 2
    make_requester("rita")
    binary = tmp_path / "bad.csv"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(CommandError) as unreadable:
        call_command("recipients_import", str(binary), "--user", "rita", "--save")
    assert unreadable.value.returncode == 2 and "UTF-8" in str(unreadable.value)
    assert not RecipientImport.objects.exists()
