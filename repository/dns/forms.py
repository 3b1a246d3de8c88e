"""The "Add a DNS provider" form: fields checked here, the server asked by the action (providers.py)."""

from __future__ import annotations

from typing import Any

from django import forms

from repository.dns.names import TSIG_ALGORITHMS
from repository.dns.providers import provider_input
from repository.errors import DnsError


class DnsProviderForm(forms.Form):
    zone = forms.CharField(max_length=253, help_text="The zone the panel may change, e.g. example.com.")
    server = forms.CharField(
        max_length=300,
        label="DNS server",
        help_text="The primary that takes dynamic updates: host name or address, with :PORT when it is not 53.",
    )
    tsig_name = forms.CharField(max_length=253, label="TSIG key name")
    tsig_algorithm = forms.ChoiceField(
        choices=[(name, name.upper()) for name in TSIG_ALGORITHMS], initial="hmac-sha256", label="TSIG algorithm"
    )
    tsig_secret = forms.CharField(
        max_length=1000,
        label="TSIG secret",
        widget=forms.PasswordInput(render_value=False),
        help_text="Base64, as in the server's key statement. Stored encrypted; never shown again.",
    )
    note = forms.CharField(max_length=200, required=False)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if {"zone", "server", "tsig_name", "tsig_algorithm", "tsig_secret"} <= set(data):
            try:
                provider_input(
                    **{key: data[key] for key in ("zone", "server", "tsig_name", "tsig_algorithm")},
                    tsig_secret=data["tsig_secret"],
                )
            except DnsError as exc:
                self.add_error(exc.field or None, str(exc))
        return data

    def add_dns_error(self, exc: DnsError) -> None:
        """A refusal from the action, next to the field it is about."""
        field = exc.field if exc.field in self.fields else None
        self.add_error(field, str(exc))
