"""Forms for the services page."""

from __future__ import annotations

from typing import Any

from django import forms

from services.daemons import ACTION_CHOICES, ADAPTERS
from services.protocols import CHOICES

HOST_SET_FIELDS = ("check_cmd", "reload_cmd")
HOST_SET = (
    "Read-only here; empty: the action above. Only the host sets it: "
    "manage.py services edit NAME --check-cmd … / --reload-cmd … (an empty value clears it)."
)


class ListenerForm(forms.Form):
    name = forms.CharField(max_length=100)
    protocol = forms.ChoiceField(choices=CHOICES)
    host = forms.CharField(max_length=255, initial="127.0.0.1", help_text="Where the panel connects to verify.")
    port = forms.IntegerField(min_value=1, max_value=65535)
    server_name = forms.CharField(max_length=253, required=False, help_text="Name clients use; default: this host.")
    daemon = forms.ChoiceField(
        choices=[("", "default for the protocol")] + [(k, a.label) for k, a in ADAPTERS.items()], required=False
    )
    fullchain_path = forms.CharField(
        max_length=500,
        required=False,
        help_text="Optional: where the daemon reads it; under a deploy root the host allows (CERTPANEL_DEPLOY_ROOTS).",
    )
    key_path = forms.CharField(max_length=500, required=False)
    cert_path = forms.CharField(max_length=500, required=False)
    chain_path = forms.CharField(max_length=500, required=False)
    combined_path = forms.CharField(max_length=500, required=False, label="Combined cert+chain+key path")
    owner = forms.CharField(
        max_length=64,
        required=False,
        help_text="Owner of the files, one the host allows (CERTPANEL_DEPLOY_OWNERS); empty: the panel's user.",
    )
    group = forms.CharField(max_length=64, required=False, help_text="One the host allows (CERTPANEL_DEPLOY_GROUPS).")
    action = forms.ChoiceField(
        choices=ACTION_CHOICES,
        required=False,
        label="After writing the files",
        help_text="The daemon's check and reload, or nothing. Commands set on the host (below) run instead.",
    )
    # Shown, never taken: a command typed in a browser would run on the host. Disabled fields ignore what a POST
    # carries (Django keeps the initial value), and clean() leaves them out of what the actions get.
    check_cmd = forms.CharField(
        disabled=True, required=False, label="Check command (set on the host)", help_text=HOST_SET
    )
    reload_cmd = forms.CharField(
        disabled=True, required=False, label="Reload command (set on the host)", help_text=HOST_SET
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in HOST_SET_FIELDS:
            data.pop(name, None)
        return data


class AssignForm(forms.Form):
    certificate = forms.IntegerField(widget=forms.HiddenInput)
    sni_name = forms.CharField(max_length=253, required=False, widget=forms.HiddenInput)
    passphrase = forms.CharField(
        required=False,
        widget=forms.PasswordInput,
        help_text="This key is protected by a passphrase. Daemons cannot ask for it, so the panel unlocks it once "
        "now and keeps a copy under its own encryption to write the key file.",
    )
    confirm = forms.BooleanField(required=False, label="Use it anyway")


CONFIRM_HELP = "Needed when the certificate is not valid yet or does not cover a name clients ask for."


class ReplaceForm(forms.Form):
    """Replace on all these services with… / Use it on services."""

    certificate = forms.IntegerField(label="New certificate", error_messages={"required": "Choose the certificate."})
    targets = forms.MultipleChoiceField(
        label="Services", widget=forms.CheckboxSelectMultiple, error_messages={"required": "Tick at least one service."}
    )
    passphrase = forms.CharField(
        required=False,
        widget=forms.PasswordInput,
        help_text="Only if the new certificate's key is protected by a passphrase: the panel unlocks it once.",
    )
    confirm = forms.BooleanField(required=False, label="Use it anyway", help_text=CONFIRM_HELP)

    def __init__(self, *args: Any, targets: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["targets"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(key, key) for key in targets]
