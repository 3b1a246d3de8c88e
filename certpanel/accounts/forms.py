"""The Users pages' forms: a new account, a role, a new password. Each refuses bad input next to its field."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from certpanel.accounts.actions import USERNAME
from certpanel.roles import ROLE_CHOICES, Role


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES, label="Role")

    def role_chosen(self) -> Role:
        return Role(self.cleaned_data["role"])


class PasswordForm(forms.Form):
    """A new password, typed twice, checked by the panel's password rules (AUTH_PASSWORD_VALIDATORS)."""

    password = forms.CharField(
        label="Password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password_confirm = forms.CharField(
        label="Password again", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def __init__(self, *args: Any, user: User | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["password"].help_text = " ".join(password_validation.password_validators_help_texts())

    def account(self) -> User:
        """The account the password is checked against (a validator may refuse one like the user name)."""
        return self.user or User()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        password, again = data.get("password"), data.get("password_confirm")
        if password and again and password != again:
            self.add_error("password_confirm", "The two passwords differ.")
        elif password:
            try:
                password_validation.validate_password(password, self.account())
            except ValidationError as exc:
                self.add_error("password", exc)
        return data


class UserCreateForm(PasswordForm):
    username = forms.CharField(
        max_length=150,
        validators=[USERNAME],
        help_text="Letters a to z (no accents), digits and @ . + - _ only; up to 150 characters.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"}),
    )
    email = forms.EmailField(required=False, label="Email (optional)")
    role = forms.ChoiceField(choices=ROLE_CHOICES, label="Role", initial=Role.READ_ONLY.value)
    field_order = ["username", "email", "role", "password", "password_confirm"]

    def account(self) -> User:
        return User(username=self.cleaned_data.get("username", ""), email=self.cleaned_data.get("email", ""))

    def clean_username(self) -> str:
        username: str = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise ValidationError("There is already a user named %(name)s.", params={"name": username})
        return username

    def role_chosen(self) -> Role:
        return Role(self.cleaned_data["role"])
