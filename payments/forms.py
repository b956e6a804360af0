"""Admin forms. They only parse what the operator typed: the rules (limits, phone numbers, four eyes,
refundable remainders) are the services', whose ApplicationError messages the admin shows on the form."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from core.errors import ApplicationError
from core.money import MONEY
from payments.field_encryption import SECRET_FIELDS, encrypt_value, encryption_configured, masked_hint
from payments.models import CommandID, DarajaCredentialSet, PayoutRail, PayoutStatus
from payments.payouts.limits import validate_amount
from payments.payouts.rails import ACCOUNT_REFERENCE_MAX, DISBURSEMENT_RAILS, PAYEE_FIELDS, RAILS, payee_problems
from payments.validators import kenyan_phone, payable_amount

# Service error codes that belong to one field of the form that caused them.
ERROR_FIELDS = {
    "invalid_phone": "phone",
    "invalid_party_b": "party_b",
    "invalid_account_reference": "account_reference",
    "invalid_rail": "rail",
    "over_refund": "amount",
    "amount": "amount",
}


def add_service_error(form: forms.Form, exc: ApplicationError) -> None:
    field = ERROR_FIELDS.get(exc.code)
    form.add_error(field if field in form.fields else None, exc.message)


def _amount(**kwargs) -> forms.DecimalField:
    kwargs.setdefault("help_text", "Whole Kenyan shillings.")
    # step 1: the browser's own check then refuses the cents the field refuses, instead of letting them
    # through to a form error (a DecimalField with 2 places would draw step 0.01).
    widget = forms.NumberInput(attrs={"step": "1", "inputmode": "numeric"})
    return forms.DecimalField(**MONEY, min_value=Decimal("1"), validators=[payable_amount], widget=widget, **kwargs)


def _phone(**kwargs) -> forms.CharField:
    kwargs.setdefault("help_text", "Kenyan mobile number: 0712345678, +254712345678 or 254712345678.")
    return forms.CharField(
        max_length=20, validators=[kenyan_phone], widget=forms.TextInput(attrs={"inputmode": "tel"}), **kwargs
    )


# How the console names each rail a disbursement may take, in the order the form offers them.
RAIL_CHOICES = [
    (PayoutRail.MOBILE, "Mobile number (M-Pesa B2C)"),
    (PayoutRail.PAYBILL, "Paybill: a business number and an account"),
    (PayoutRail.TILL, "Till (Buy Goods)"),
    (PayoutRail.POCHI, "Pochi la Biashara (a trader's phone number)"),
    (PayoutRail.FLOAT_TOPUP, "Top up our B2C float (from the Working account)"),
]


def rails_taking(field: str) -> str:
    """The rails whose request takes `field`, space-separated (the form's script shows the field for those)."""
    if field == "command_id":
        return " ".join(r for r in DISBURSEMENT_RAILS if RAILS[r].command_id is None)
    return " ".join(r for r in DISBURSEMENT_RAILS if field in RAILS[r].takes)


def _rail_field(name: str, field: forms.Field) -> forms.Field:
    field.widget.attrs["data-rails"] = rails_taking(name)
    return field


class DisbursementForm(forms.Form):
    """A payout to someone we pay, or a float top-up; becomes a payout waiting for approval
    (payout_request_disbursement). The rail comes first: each payee field says which rails take it
    (`data-rails`, read by payments/static/payments/rail-form.js, which hides the others). Without the script
    every field shows and clean() names each field the chosen rail refuses or misses, all at once."""

    rail = forms.ChoiceField(
        label="How it is paid",
        choices=RAIL_CHOICES,
        initial=PayoutRail.MOBILE,
        required=False,  # left out: a mobile payout, as the API's default
        widget=forms.RadioSelect(attrs={"class": "rail-choice"}),
    )
    phone = _rail_field("phone", forms.CharField(
        max_length=20, required=False, widget=forms.TextInput(attrs={"inputmode": "tel"}),
        help_text="Mobile and Pochi: 0712345678, +254712345678 or 254712345678.",
    ))  # fmt: skip
    party_b = _rail_field("party_b", forms.CharField(
        label="Paybill or till number", max_length=12, required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "data-label-paybill": "Paybill number",
                                      "data-label-till": "Till number"}),
        help_text="Paybill and till: the business number, 5 to 7 digits.",
    ))  # fmt: skip
    account_reference = _rail_field("account_reference", forms.CharField(
        label="Account", max_length=100, required=False,
        help_text=f"Paybill: the account at the business, e.g. an invoice number (required; at most "
        f"{ACCOUNT_REFERENCE_MAX} characters). Till: optional.",
    ))  # fmt: skip
    amount = forms.DecimalField(
        **MONEY, min_value=Decimal("1"), help_text="Whole Kenyan shillings.",
        widget=forms.NumberInput(attrs={"step": "1", "inputmode": "numeric"}),
    )  # fmt: skip
    command_id = _rail_field("command_id", forms.ChoiceField(
        label="Payment type", choices=CommandID.choices, initial=CommandID.BUSINESS_PAYMENT, required=False,
        help_text="Mobile only: every other rail has its own.",
    ))  # fmt: skip
    remarks = forms.CharField(min_length=2, max_length=100, help_text="Sent to M-Pesa (2–100 characters).")
    recipient_name = forms.CharField(max_length=150, required=False)
    recipient_type = forms.CharField(max_length=30, required=False, help_text="e.g. trainer, client, supplier")
    recipient_reference = forms.CharField(max_length=100, required=False, help_text="Invoice or contract number.")
    occasion = forms.CharField(max_length=100, required=False)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Why this payout is due: shown to the approvers.",
    )
    send_after = forms.DateTimeField(
        label="Send after", required=False,
        help_text="Optional, Nairobi time (e.g. 2026-12-24 09:00): approved earlier, it waits until then.",
    )

    def clean_send_after(self):
        value = self.cleaned_data.get("send_after")
        if value is not None and value <= timezone.now():
            raise forms.ValidationError("Send after must be in the future.")
        return value

    def clean(self):
        """The chosen rail's rules, added to the fields' own errors: every payee field it refuses or misses
        and the amount limits of the account it leaves (payments/payouts/rails.py, limits.py)."""
        cleaned = super().clean()
        if "rail" in self.errors:
            return cleaned
        rail = cleaned.get("rail") or PayoutRail.MOBILE
        cleaned["rail"] = rail
        given = {name: self.data.get(name, "") for name in PAYEE_FIELDS}
        for field, message in payee_problems(rail, given).items():
            if field not in self.errors:
                self.add_error(field, message)
        amount = cleaned.get("amount")
        if amount is not None:
            try:
                cleaned["amount"] = validate_amount(amount, rail=rail)
            except ApplicationError as exc:
                self.add_error("amount", exc.message)
        if RAILS[rail].command_id is not None:
            cleaned["command_id"] = None  # the rail's own; the box (hidden by the script) is not read
        elif not cleaned.get("command_id"):
            cleaned["command_id"] = CommandID.BUSINESS_PAYMENT
        return cleaned


class PayoutEditForm(forms.Form):
    """The fields payout_update accepts, for the payout's rail only (its payee fields, its CommandID when the
    requester chooses it). Changing amount, payee or CommandID voids the approvals."""

    phone = _phone()
    party_b = forms.CharField(label="Paybill or till number", max_length=12)
    account_reference = forms.CharField(label="Account", max_length=100, required=False)
    amount = forms.DecimalField(
        **MONEY, min_value=Decimal("1"), help_text="Whole Kenyan shillings.",
        widget=forms.NumberInput(attrs={"step": "1", "inputmode": "numeric"}),
    )  # fmt: skip
    command_id = forms.ChoiceField(label="Payment type", choices=CommandID.choices)
    remarks = forms.CharField(min_length=2, max_length=100)
    recipient_name = forms.CharField(max_length=150, required=False)
    recipient_reference = forms.CharField(max_length=100, required=False)
    occasion = forms.CharField(max_length=100, required=False)

    @classmethod
    def for_payout(cls, payout, data=None) -> PayoutEditForm:
        initial = {name: getattr(payout, name) for name in cls.base_fields}
        form = cls(data=data, initial=initial)
        form.rail = payout.rail
        rail = RAILS[payout.rail]
        for name in PAYEE_FIELDS:
            if name not in rail.takes:
                del form.fields[name]
        if "account_reference" in form.fields:
            form.fields["account_reference"].required = "account_reference" in rail.requires
        if rail.command_id is not None:
            del form.fields["command_id"]
        return form

    def clean(self):
        cleaned = super().clean()
        given = {name: self.data.get(name, "") for name in PAYEE_FIELDS if name in self.fields}
        for field, message in payee_problems(self.rail, given).items():
            if field in self.fields and field not in self.errors:
                self.add_error(field, message)
        if cleaned.get("amount") is not None:
            try:
                cleaned["amount"] = validate_amount(cleaned["amount"], rail=self.rail)
            except ApplicationError as exc:
                self.add_error("amount", exc.message)
        return cleaned

    def changes(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.changed_data}


class RefundForm(forms.Form):
    amount = _amount(help_text="Whole Kenyan shillings; at most the payment's refundable remainder.")
    reason = forms.CharField(
        min_length=3,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Shown to the approvers and kept in the audit trail.",
    )
    phone = _phone(
        required=False,
        help_text="Leave blank to refund the number that paid. Another number is flagged to the approvers.",
    )


class RejectForm(forms.Form):
    reason = forms.CharField(
        min_length=3,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Recorded on every rejected payout and in the audit trail.",
    )


class ReviewForm(forms.Form):
    """Settling a needs_review payout after checking the M-Pesa portal (payout_mark_reviewed)."""

    resolution = forms.ChoiceField(
        choices=[
            (PayoutStatus.COMPLETED, "Completed: the portal shows the money reached the recipient"),
            (PayoutStatus.FAILED, "Failed: the portal shows nothing was paid"),
        ],
        widget=forms.RadioSelect,
    )
    transaction_id = forms.CharField(
        label="M-Pesa receipt",
        max_length=32,
        required=False,
        help_text="Required for Completed (e.g. UAB1234XYZ), unless the payout already has one.",
    )
    note = forms.CharField(
        min_length=3,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What you checked and what you found.",
    )


class KillSwitchForm(forms.Form):
    reason = forms.CharField(max_length=255, required=False, widget=forms.TextInput(attrs={"size": 60}))

    def __init__(self, *args, pausing: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.pausing = pausing
        self.fields["reason"].required = pausing
        self.fields["reason"].help_text = (
            "Why payouts must stop (required)." if pausing else "Optional: why payouts may go again."
        )


class BulkUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="Columns: phone, amount, recipient name, reference, remarks (a header row first); rail, party_b "
        "and account_reference for paybills, tills, Pochi and float top-ups. Every row is checked before anything "
        "is created.",
    )
    name = forms.CharField(max_length=150, required=False, help_text="Batch name; the file name if blank.")
    command_id = forms.ChoiceField(
        label="Payment type", choices=CommandID.choices, initial=CommandID.BUSINESS_PAYMENT,
        help_text="For the mobile rows; every other rail has its own.",
    )  # fmt: skip
    send_after = forms.DateTimeField(
        label="Send after", required=False,
        help_text="Optional, Nairobi time (e.g. 2026-12-24 09:00): every row without its own send_after cell "
        "waits until then, even once approved.",
    )  # fmt: skip

    def clean_send_after(self):
        value = self.cleaned_data.get("send_after")
        if value is not None and value <= timezone.now():
            raise forms.ValidationError("Send after must be in the future.")
        return value


class DarajaCredentialSetForm(forms.ModelForm):
    """Secrets are write-only: typed into password fields, encrypted on save, never shown back. A blank
    field keeps what is stored; "Clear" removes it (the environment's value is then used)."""

    b2c_consumer_key = forms.CharField(
        label="B2C consumer key", required=False, widget=forms.PasswordInput(render_value=False)
    )
    b2c_consumer_secret = forms.CharField(
        label="B2C consumer secret", required=False, widget=forms.PasswordInput(render_value=False)
    )
    initiator_password = forms.CharField(
        label="Initiator password", required=False, widget=forms.PasswordInput(render_value=False)
    )
    security_credential = forms.CharField(
        label="Security credential",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Only if you were given an encrypted credential instead of the initiator password.",
    )
    clear = forms.MultipleChoiceField(
        label="Clear stored secrets",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[(name, name.replace("_", " ").capitalize().replace("B2c", "B2C")) for name in SECRET_FIELDS],
    )

    class Meta:
        model = DarajaCredentialSet
        fields = ["name", "active", "b2c_shortcode", "initiator_name"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.changed_secrets: list[str] = []
        for name, column in SECRET_FIELDS.items():
            hint = masked_hint(getattr(self.instance, column)) if self.instance.pk else "not set"
            extra = self.fields[name].help_text
            self.fields[name].help_text = f"Stored: {hint}. Leave blank to keep it." + (f" {extra}" if extra else "")

    def clean(self):
        cleaned = super().clean()
        entered = {name: cleaned.get(name) for name in SECRET_FIELDS if cleaned.get(name)}
        cleared = set(cleaned.get("clear") or [])
        both = sorted(set(entered) & cleared)
        if both:
            raise forms.ValidationError(f"Either type a new value or clear it, not both: {', '.join(both)}.")
        if entered and not encryption_configured():
            raise forms.ValidationError(
                "FIELD_ENCRYPTION_KEY is not configured, so secrets cannot be stored here. Set it in the "
                "environment (a key from cryptography.fernet.Fernet.generate_key()) and restart, or keep the "
                "credentials in the environment."
            )
        tokens = {}
        for name, value in entered.items():
            try:
                tokens[name] = encrypt_value(value)
            except ImproperlyConfigured as exc:
                raise forms.ValidationError(str(exc)) from None
        self._tokens = tokens
        self._cleared = cleared
        return cleaned

    def save(self, commit: bool = True):
        instance = super().save(commit=False)
        for name, token in self._tokens.items():
            setattr(instance, SECRET_FIELDS[name], token)
        for name in self._cleared:
            setattr(instance, SECRET_FIELDS[name], "")
        self.changed_secrets = sorted(set(self._tokens) | self._cleared)
        if commit:
            instance.save()
        return instance
