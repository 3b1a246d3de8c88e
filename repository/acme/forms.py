"""Forms of the ACME room: a new certificate (Let's Encrypt tab), an account registered on the settings page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.urls import reverse
from django.utils.html import format_html

from certpanel.outbound import OutboundError, url_check
from repository.acme.accounts import PRESETS
from repository.acme.orders import order_hostnames
from repository.acme.profiles import profile_check_names, profile_check_offered, profile_choices
from repository.errors import CryptoError
from repository.forms import KEY_TYPE_CHOICES, NAME_SEPARATORS
from repository.models import AcmeAccount, ChallengeType


class NewCertificateForm(forms.Form):
    hostnames = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line; the first is the certificate's name. Wildcards (*.example.com) need DNS-01.",
    )
    challenge = forms.ChoiceField(
        choices=[
            (ChallengeType.HTTP_01, "HTTP-01: port 80 of every name reaches this panel"),
            (ChallengeType.DNS_01, "DNS-01: a TXT record in each name's zone (wildcards too)"),
        ],
        required=False,  # not posted (a script, an older page): HTTP-01, as before DNS-01 existed
        initial=ChallengeType.HTTP_01,
        label="Challenge",
    )
    key_type = forms.ChoiceField(choices=KEY_TYPE_CHOICES, initial="ec256")
    account = forms.ModelChoiceField(queryset=AcmeAccount.objects.all(), empty_label=None, label="ACME account")
    # A select of what the accounts' directories advertise; validated by clean() (not by the choices), so a profile
    # the chosen CA does not offer gets a sentence that names what it does offer.
    profile = forms.CharField(
        required=False,
        max_length=64,
        widget=forms.Select(),
        help_text="What the CA offers, as its directory describes it. The certificate keeps it on every renewal.",
    )
    auto_renew = forms.BooleanField(required=False, initial=True, label="Renew automatically")
    reuse_key = forms.BooleanField(
        required=False,
        initial=False,
        label="Keep the same private key on renewal",
        help_text="Only if something pins this key (TLSA/DANE records, HPKP-style pins): a new key each time is safer.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        offered: dict[str, str] = {}
        for profiles in AcmeAccount.objects.values_list("profiles", flat=True):
            offered.update(profiles or {})
        self.fields["profile"].widget.choices = profile_choices(offered)
        self.fields["challenge"].help_text = format_html(
            'DNS-01 needs a DNS provider for every name\'s zone (<a href="{}">Settings → DNS providers</a>): the '
            "panel adds the TXT records and removes them once the CA has looked.",
            reverse("dns:list"),
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        data["challenge"] = data.get("challenge") or ChallengeType.HTTP_01
        if "hostnames" in data:  # checked with the challenge: a wildcard needs DNS-01
            raw = [name for name in NAME_SEPARATORS.split(data["hostnames"]) if name]
            try:
                data["hostnames"] = order_hostnames(raw, data["challenge"])
            except CryptoError as exc:
                self.add_error("hostnames", str(exc))
        account, profile = data.get("account"), data.get("profile", "")
        try:
            if account is not None:
                profile_check_offered(profile, account.profiles or {})
        except CryptoError as exc:
            self.add_error("profile", str(exc))
            return data
        if "hostnames" in data:
            try:
                profile_check_names(profile, data["hostnames"])
            except CryptoError as exc:
                self.add_error("hostnames", str(exc))
        return data


class RegisterAccountForm(forms.Form):
    preset = forms.ChoiceField(
        choices=[*((key, label) for key, (label, _) in PRESETS.items()), ("custom", "Custom directory URL")],
        label="Certificate authority",
    )
    directory_url = forms.URLField(
        assume_scheme="https",
        required=False,
        max_length=500,
        label="Directory URL",
        help_text="For a custom RFC 8555 CA, e.g. https://acme.example.com/directory.",
    )
    ca_bundle = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="CA bundle (PEM)",
        help_text="Only for a private CA whose directory uses a certificate browsers don't trust.",
    )
    email = forms.EmailField(required=False, help_text="The CA may send account notices here.")
    agree_tos = forms.BooleanField(
        required=False,
        label="I agree to the CA's Terms of Service",
        help_text="Leave it unticked to read them first: the panel asks the CA for its terms and shows them, with "
        "\u201cI agree and register\u201d, before any account is made.",
    )
    eab_kid = forms.CharField(required=False, max_length=200, label="EAB key id")
    eab_hmac_key = forms.CharField(
        required=False,
        max_length=500,
        label="EAB HMAC key",
        widget=forms.PasswordInput,
        help_text="Only if your CA requires External Account Binding.",
    )
    name = forms.CharField(required=False, max_length=100)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        preset = data.get("preset")
        if preset == "custom":
            if not data.get("directory_url"):
                self.add_error("directory_url", "Give the directory URL of your CA.")
        elif preset in PRESETS:
            data["directory_url"] = PRESETS[preset][1]
        if data.get("directory_url"):
            try:
                url_check(data["directory_url"])  # a literal address at once; a name when the worker resolves it
            except OutboundError as exc:
                self.add_error("directory_url", str(exc))
        if bool(data.get("eab_kid")) != bool(data.get("eab_hmac_key")):
            self.add_error("eab_hmac_key", "EAB needs both the key id and the HMAC key.")
        return data
