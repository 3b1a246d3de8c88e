"""The audit page's filters (a GET form): who, what, which target, from and to which day."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from certpanel.models import AuditEvent

# Days a date filter can name (a day past 9998 has no next day to end at).
DAY_RANGE = [
    MinValueValidator(date(1970, 1, 1), "Pick a day from 1970 on."),
    MaxValueValidator(date(9998, 12, 31), "Pick a day before the year 9999."),
]


class AuditFilterForm(forms.Form):
    actor = forms.CharField(
        required=False, max_length=160, label="Who", widget=forms.TextInput(attrs={"placeholder": "user, worker, cli:"})
    )
    action = forms.ChoiceField(required=False, label="Action", choices=[("", "Any action"), *AuditEvent.Action.choices])
    target = forms.CharField(
        required=False, max_length=200, label="Target", widget=forms.TextInput(attrs={"placeholder": "name or #id"})
    )
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}), validators=DAY_RANGE
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}), validators=DAY_RANGE
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def filters(self) -> dict[str, Any]:
        """The filters that are valid (cleaned_data keeps them even when another field has an error)."""
        data = getattr(self, "cleaned_data", {})
        return {name: data[name] for name in self.fields if data.get(name) and name not in self.errors}
