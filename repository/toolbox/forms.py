"""The toolbox's forms: one per tool, each a file or pasted input (see ``repository.forms.UploadForm``)."""

from __future__ import annotations

from django import forms

from repository.forms import UploadForm, file_field, paste_field
from repository.toolbox.tools import CONVERSIONS


class DecodeForm(UploadForm):
    inputs = {"data": "Input"}
    data_file = file_field("File", "Certificate, chain, CSR, private key (PEM/DER), PKCS#7 or PKCS#12.")
    data_text = paste_field("…or paste PEM")
    password = forms.CharField(required=False, widget=forms.PasswordInput, label="Password / passphrase")


class MatchForm(UploadForm):
    inputs = {"key": "Private key", "other": "Certificate or CSR"}
    key_file = file_field("Private key")
    key_text = paste_field("…or paste the key")
    other_file = file_field("Certificate or CSR")
    other_text = paste_field("…or paste it")
    password = forms.CharField(required=False, widget=forms.PasswordInput, label="Key passphrase")


class VerifyForm(UploadForm):
    inputs = {"data": "Chain"}
    data_file = file_field("Certificates", "Leaf and intermediates in any order.")
    data_text = paste_field("…or paste them")


class ConvertForm(UploadForm):
    inputs = {"data": "Input"}
    data_file = file_field("File")
    data_text = paste_field("…or paste PEM")
    to = forms.ChoiceField(choices=[(k, v[0]) for k, v in CONVERSIONS.items()], label="Convert to")
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput,
        label="PKCS#12 password",
        help_text="To read a PKCS#12 input, or to protect a PKCS#12 output.",
    )
    passphrase = forms.CharField(required=False, widget=forms.PasswordInput, label="Key passphrase")


FORMS: dict[str, type[UploadForm]] = {
    "decode": DecodeForm,
    "match": MatchForm,
    "verify": VerifyForm,
    "convert": ConvertForm,
}
