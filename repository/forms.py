"""Forms: parse and bound what admins type or upload; the actions do the certificate work."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, cast

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from repository import emails
from repository.errors import CryptoError
from repository.exports import FORMATS, SECRET_FORMATS
from repository.models.settings import EXPIRING_DAYS_MAX, EXPIRING_DAYS_MIN, VERIFY_INTERVAL_CHOICES
from repository.pki.generate import SubjectFields
from repository.pki.hostnames import normalize_hostname
from repository.pki.keytypes import KEY_TYPES
from repository.policy import SchedulePolicy, hours_text

KEY_TYPE_CHOICES = list(KEY_TYPES.items())
NAME_SEPARATORS = re.compile(r"[\s,;]+")


def _size_label(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"


def read_upload(upload: UploadedFile | None, text: str, *, label: str) -> bytes | None:
    """One input given as a file or pasted; refuses oversized data before reading it all."""
    limit = settings.CERTPANEL_MAX_UPLOAD_BYTES
    if upload is not None:
        if upload.size is not None and upload.size > limit:
            raise forms.ValidationError(f"{label}: the file '{upload.name}' is larger than {_size_label(limit)}.")
        data: bytes = upload.read(limit + 1)
        if not data:
            raise forms.ValidationError(f"{label}: the file '{upload.name}' is empty.")
        return data
    if text.strip():
        data = text.encode("utf-8")
        if len(data) > limit:
            raise forms.ValidationError(f"{label}: the pasted text is larger than {_size_label(limit)}.")
        return data
    return None


def parse_hostnames(text: str) -> list[str]:
    names = []
    for raw in NAME_SEPARATORS.split(text.strip()):
        if raw:
            try:
                names.append(normalize_hostname(raw))
            except CryptoError as exc:
                raise forms.ValidationError(str(exc)) from None
    return names


def secret_bytes(value: str) -> bytes | None:
    return value.encode("utf-8") if value else None


class HostnameField(forms.CharField):
    def clean(self, value: Any) -> str:
        value = super().clean(value)
        if not value:
            return ""
        try:
            return normalize_hostname(value, allow_wildcard=True)
        except CryptoError as exc:
            raise forms.ValidationError(str(exc)) from None


class NewPassphraseMixin(forms.Form):
    passphrase = forms.CharField(
        required=False,
        widget=forms.PasswordInput,
        help_text="Optional. Encrypts this key on top of the panel's own encryption. It is not stored and cannot "
        "be recovered: you will be asked for it whenever the key is used.",
    )
    passphrase_confirm = forms.CharField(required=False, widget=forms.PasswordInput, label="Repeat passphrase")

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("passphrase", "") != data.get("passphrase_confirm", ""):
            self.add_error("passphrase_confirm", "The two passphrases differ.")
        elif data.get("passphrase") and len(data["passphrase"]) < 4:
            self.add_error("passphrase", "Use at least 4 characters, or leave it empty.")
        return data

    def new_passphrase(self) -> bytes | None:
        return secret_bytes(self.cleaned_data.get("passphrase", ""))


class SelfSignedForm(NewPassphraseMixin):
    hostname = HostnameField(
        max_length=253, help_text="The server's full hostname as clients connect to it (e.g. mail.example.com)."
    )
    sans = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Other names",
        help_text="Optional extra hostnames or IP addresses, one per line.",
    )
    key_type = forms.ChoiceField(choices=KEY_TYPE_CHOICES, initial="rsa2048")
    days = forms.IntegerField(min_value=1, max_value=3650, initial=365, label="Validity (days)")
    field_order = ["hostname", "sans", "key_type", "days", "passphrase", "passphrase_confirm"]

    def clean_sans(self) -> list[str]:
        return parse_hostnames(self.cleaned_data.get("sans", ""))


class CsrForm(NewPassphraseMixin):
    common_name = HostnameField(max_length=253, label="Common name (hostname)")
    sans = SelfSignedForm.base_fields["sans"]
    key_type = forms.ChoiceField(choices=KEY_TYPE_CHOICES, initial="rsa2048")
    organization = forms.CharField(max_length=64, required=False)
    organizational_unit = forms.CharField(max_length=64, required=False, label="Organizational unit")
    locality = forms.CharField(max_length=128, required=False, label="City / locality")
    state = forms.CharField(max_length=128, required=False, label="State / province")
    country = forms.CharField(max_length=2, required=False, help_text="Two-letter code, e.g. DE.")
    email = forms.EmailField(max_length=128, required=False)
    field_order = [
        "common_name",
        "sans",
        "key_type",
        "organization",
        "organizational_unit",
        "locality",
        "state",
        "country",
        "email",
        "passphrase",
        "passphrase_confirm",
    ]

    def clean_sans(self) -> list[str]:
        return parse_hostnames(self.cleaned_data.get("sans", ""))

    def clean_country(self) -> str:
        country: str = self.cleaned_data.get("country", "").strip().upper()
        if country and not re.fullmatch(r"[A-Z]{2}", country):
            raise forms.ValidationError("Country must be a two-letter code such as DE.")
        return country

    def subject(self) -> SubjectFields:
        data = self.cleaned_data
        return SubjectFields(
            common_name=data["common_name"],
            organization=data["organization"],
            organizational_unit=data["organizational_unit"],
            locality=data["locality"],
            state=data["state"],
            country=data["country"],
            email=data["email"],
        )


def file_field(label: str, help_text: str = "") -> forms.FileField:
    return forms.FileField(required=False, label=label, help_text=help_text)


class PasteArea(forms.Textarea):
    """Never echoes what was pasted: it may be a private key, which must not appear in a page."""

    def format_value(self, value: Any) -> None:
        return None


def paste_field(label: str) -> forms.CharField:
    return forms.CharField(
        required=False, label=label, widget=PasteArea(attrs={"rows": 5, "spellcheck": "false", "autocomplete": "off"})
    )


class UploadForm(forms.Form):
    """Base for forms whose inputs come as a file or pasted text; ``inputs`` maps name -> label."""

    inputs: dict[str, str] = {}

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        for name, label in self.inputs.items():
            try:
                data[name] = read_upload(data.get(f"{name}_file"), data.get(f"{name}_text", ""), label=label)
            except forms.ValidationError as exc:
                self.add_error(f"{name}_file", exc)
        return data


class CompleteForm(UploadForm):
    inputs = {"certificate": "Certificate", "chain": "Chain"}
    certificate_file = file_field(
        "Certificate file", "What the CA sent: PEM, DER or PKCS#7, leaf and chain in any order."
    )
    certificate_text = paste_field("…or paste it")
    chain_file = file_field("Chain / CA bundle file", "Optional if the file above already has the chain.")
    chain_text = paste_field("…or paste the chain")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.errors and not data.get("certificate"):
            raise forms.ValidationError("Upload or paste the certificate the CA sent.")
        return data


class ImportForm(UploadForm):
    inputs = {"certificate": "Certificate", "key": "Private key", "chain": "Chain", "pkcs12": "PKCS#12"}
    certificate_file = file_field("Certificate", "PEM (may also contain the chain and key), DER or PKCS#7.")
    certificate_text = paste_field("…or paste it")
    key_file = file_field("Private key", "PEM or DER, encrypted or not.")
    key_text = paste_field("…or paste the key")
    chain_file = file_field("Chain / CA bundle")
    chain_text = paste_field("…or paste the chain")
    pkcs12_file = file_field("…or a PKCS#12 file (.pfx / .p12)", "Instead of the fields above.")
    passphrase = forms.CharField(
        required=False,
        widget=forms.PasswordInput,
        label="Password / passphrase",
        help_text="The PKCS#12 password, or the passphrase of an encrypted private key.",
    )
    name = forms.CharField(max_length=255, required=False, help_text="Optional; defaults to the common name.")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        if data.get("pkcs12") and (data.get("certificate") or data.get("key")):
            raise forms.ValidationError("Upload either a PKCS#12 file or certificate and key files, not both.")
        if not data.get("pkcs12") and not data.get("certificate"):
            raise forms.ValidationError("Upload a certificate (with its key) or a PKCS#12 file.")
        return data

    def secret(self) -> bytes | None:
        return secret_bytes(self.cleaned_data.get("passphrase", ""))


class ExportForm(forms.Form):
    export_format = forms.ChoiceField(choices=list(FORMATS.items()), label="Format")
    passphrase = forms.CharField(
        required=False,
        widget=forms.PasswordInput,
        label="Key passphrase",
        help_text="Only for keys created with a passphrase.",
    )
    export_password = forms.CharField(
        required=False,
        widget=forms.PasswordInput,
        label="PKCS#12 export password",
        help_text="Protects the .p12 file; required for PKCS#12.",
    )

    def __init__(self, *args: Any, keys: bool = True, **kwargs: Any) -> None:
        """``keys=False``: only the public formats, for a user who is never offered a private key (read-only)."""
        super().__init__(*args, **kwargs)
        if not keys:
            field = cast(forms.ChoiceField, self.fields["export_format"])
            field.choices = [(value, label) for value, label in FORMATS.items() if value not in SECRET_FORMATS]
            del self.fields["passphrase"], self.fields["export_password"]

    def secrets(self) -> tuple[bytes | None, bytes | None]:
        data = self.cleaned_data
        return secret_bytes(data.get("passphrase", "")), secret_bytes(data.get("export_password", ""))


class DeleteForm(forms.Form):
    confirm = forms.BooleanField(required=True, label="Yes, delete this certificate and its private key")


class NotificationForm(forms.Form):
    notify_emails = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Notification recipients",
        help_text="Renewal failures, expiry warnings and stalled sweeps go here (plus CERTPANEL_NOTIFY_EMAILS).",
    )

    def clean_notify_emails(self) -> str:
        return "\n".join(emails.parse_recipients(self.cleaned_data["notify_emails"]))


class SchedulePolicyForm(forms.Form):
    """The settings page's renewal point, probe interval and "expiring" threshold: choices, never free text, and
    an empty interval or threshold keeps the environment's value (shown in the empty option)."""

    renewal_fraction = forms.ChoiceField(
        label="Renew when this much of the lifetime is left",
        choices=[
            ("1/3", "1/3 (default): a 90-day certificate renews about 30 days before it expires"),
            ("1/2", "1/2: about 45 days before, for more time to notice a failing renewal"),
            ("1/4", "1/4: about 22 days before, so each certificate serves longer, with less time to fix a failure"),
        ],
        help_text="Certificates under 10 days renew with half their lifetime left whatever is chosen; "
        "a renewal window published by the CA (ARI) still comes first.",
        error_messages={"invalid_choice": "Choose one of the renewal points offered (1/3, 1/2 or 1/4)."},
    )
    verify_interval = forms.TypedChoiceField(
        label="Probe each listener",
        coerce=int,
        empty_value=None,
        required=False,
        error_messages={"invalid_choice": "Choose one of the intervals offered (1, 3, 6, 12 or 24 hours)."},
    )
    expiring_days = forms.IntegerField(
        label='Mark a certificate "expiring" this many days before its end',
        required=False,
        min_value=EXPIRING_DAYS_MIN,
        max_value=EXPIRING_DAYS_MAX,
        error_messages={
            "invalid": f"Enter a whole number of days, {EXPIRING_DAYS_MIN} to {EXPIRING_DAYS_MAX}.",
            "min_value": f"Enter {EXPIRING_DAYS_MIN} to {EXPIRING_DAYS_MAX} days.",
            "max_value": f"Enter {EXPIRING_DAYS_MIN} to {EXPIRING_DAYS_MAX} days.",
        },
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        interval = cast(forms.TypedChoiceField, self.fields["verify_interval"])
        default = hours_text(timedelta(seconds=settings.CERTPANEL_VERIFY_SWEEP_SECONDS))
        interval.help_text = (
            f"Every {settings.CERTPANEL_VERIFY_CHECK_SECONDS // 60} minutes the panel probes the listeners not "
            "verified for this long; the check after a deployment counts too."
        )
        interval.choices = [
            ("", f"every {default} (default: CERTPANEL_VERIFY_SWEEP_SECONDS)"),
            *VERIFY_INTERVAL_CHOICES,
        ]
        days = self.fields["expiring_days"]
        days.help_text = (
            f"Empty: {settings.CERTPANEL_EXPIRING_DAYS} days (CERTPANEL_EXPIRING_DAYS). "
            'Shorter-lived certificates turn "expiring" when their renewal is due, if that comes later.'
        )
        days.widget.attrs["placeholder"] = str(settings.CERTPANEL_EXPIRING_DAYS)

    @classmethod
    def for_policy(cls, policy: SchedulePolicy) -> SchedulePolicyForm:
        """The form showing the policy in force: the stored values, or empty where the environment decides."""
        return cls(
            initial={
                "renewal_fraction": str(policy.fraction),
                "verify_interval": int(policy.verify_interval.total_seconds()) if policy.verify_interval_stored else "",
                "expiring_days": policy.expiring_days if policy.expiring_days_stored else None,
            }
        )


class _SuccessorForm(forms.Form):
    """Base of the renewal forms: keep the key or not, and the current key's passphrase when it has one."""

    keep_key = forms.BooleanField(
        required=False,
        label="Keep the current private key",
        help_text="Unticked (recommended): a new key of the same type is generated.",
    )
    passphrase = forms.CharField(
        required=False,
        widget=forms.PasswordInput,
        label="Current key passphrase",
        help_text="The current key is protected: its passphrase unlocks it, and a new key gets the same one.",
    )

    def __init__(self, *args: Any, key_has_passphrase: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if key_has_passphrase:
            self.fields["passphrase"].required = True
        else:
            del self.fields["passphrase"]

    def secret(self) -> bytes | None:
        return secret_bytes(self.cleaned_data.get("passphrase", ""))


class RenewSelfSignedForm(_SuccessorForm):
    days = forms.IntegerField(min_value=1, max_value=3650, label="Validity (days)")
    field_order = ["days", "keep_key", "passphrase"]


class CsrFromCertificateForm(_SuccessorForm):
    pass


class BulkDeleteForm(forms.Form):
    confirm = forms.BooleanField(required=True, label="Yes, delete the unused certificates listed above")
