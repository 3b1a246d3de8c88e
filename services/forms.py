"""Forms for the services page."""

from __future__ import annotations

from django import forms

from services.daemons import ADAPTERS
from services.protocols import CHOICES


class ListenerForm(forms.Form):
    name = forms.CharField(max_length=100)
    protocol = forms.ChoiceField(choices=CHOICES)
    host = forms.CharField(max_length=255, initial="127.0.0.1", help_text="Where the panel connects to verify.")
    port = forms.IntegerField(min_value=1, max_value=65535)
    server_name = forms.CharField(max_length=253, required=False, help_text="Name clients use; default: this host.")
    daemon = forms.ChoiceField(
        choices=[("", "default for the protocol")] + [(k, a.label) for k, a in ADAPTERS.items()], required=False
    )
    fullchain_path = forms.CharField(max_length=500, required=False, help_text="Optional: where the daemon reads it.")
    key_path = forms.CharField(max_length=500, required=False)
    cert_path = forms.CharField(max_length=500, required=False)
    chain_path = forms.CharField(max_length=500, required=False)
    combined_path = forms.CharField(max_length=500, required=False, label="Combined cert+chain+key path")
    owner = forms.CharField(max_length=64, required=False, help_text="Owner of the key files (default root).")
    group = forms.CharField(max_length=64, required=False)
    check_cmd = forms.CharField(
        max_length=1000,
        required=False,
        label="Check command",
        help_text="Default: the daemon's own check (e.g. doveconf -n).",
    )
    reload_cmd = forms.CharField(
        max_length=1000,
        required=False,
        label="Reload command",
        help_text="Default: the daemon's reload (e.g. doveadm reload).",
    )


class AssignForm(forms.Form):
    certificate = forms.IntegerField(widget=forms.HiddenInput)
    sni_name = forms.CharField(max_length=253, required=False, widget=forms.HiddenInput)
    passphrase = forms.CharField(
        required=False,
        widget=forms.PasswordInput,
        help_text="This key is protected by a passphrase. Daemons cannot ask for it, so the panel unlocks it once "
        "now and keeps a copy under its own encryption to write the key file.",
    )
