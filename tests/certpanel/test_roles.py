"""certpanel/roles.py: the three roles are Django's two flags, read and written in one place."""

import pytest
from django.contrib.auth.models import AnonymousUser, User

from certpanel.roles import Role, may_administer, may_change, may_export_keys, role_of, role_set


@pytest.mark.parametrize(
    ("is_staff", "is_superuser", "role"),
    [
        (True, True, Role.ADMIN),
        (True, False, Role.OPERATOR),
        (False, False, Role.READ_ONLY),
        (False, True, Role.READ_ONLY),  # only Django's admin makes one: it may change nothing here
    ],
)
def test_role_of_reads_the_django_flags(is_staff: bool, is_superuser: bool, role: Role) -> None:
    user = User(is_staff=is_staff, is_superuser=is_superuser)
    assert role_of(user) is role
    assert may_change(user) is (role is not Role.READ_ONLY)
    assert may_export_keys(user) is (role is not Role.READ_ONLY)
    assert may_administer(user) is (role is Role.ADMIN)


@pytest.mark.parametrize("role", list(Role))
def test_role_set_gives_the_role_back(role: Role) -> None:
    user = User(is_staff=True, is_superuser=True)
    role_set(user, role)
    assert role_of(user) is role


def test_anonymous_is_read_only() -> None:
    assert role_of(AnonymousUser()) is Role.READ_ONLY and not may_change(AnonymousUser())
