"""ACME profiles (draft-ietf-acme-profiles): what a CA's named profiles allow, checked before anything is ordered.

A directory advertises its profiles as {name: description} and nothing more: the limits below are what the CAs
publish for the profiles they name. Let's Encrypt's `tlsserver` and `shortlived` allow at most 25 names and put no
Common Name in the certificate; any other profile (or none) gets RFC-era defaults: 100 names, a Common Name.
Pure: no Django, no acme imports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from repository.errors import CryptoError

MAX_NAMES = 100  # what every CA the panel knows accepts in one order (Let's Encrypt's classic profile too)


@dataclass(frozen=True)
class ProfileLimits:
    max_names: int = MAX_NAMES
    common_name: bool = True  # False: the CA refuses (or drops) a subject Common Name; the CSR carries SANs only


KNOWN_LIMITS: Mapping[str, ProfileLimits] = {
    "classic": ProfileLimits(),
    "tlsserver": ProfileLimits(max_names=25, common_name=False),
    "shortlived": ProfileLimits(max_names=25, common_name=False),
}


def profile_limits(profile: str) -> ProfileLimits:
    """The limits of a profile by name; the general ones for a profile this table does not know (or none)."""
    return KNOWN_LIMITS.get(profile, ProfileLimits())


def profile_check_names(profile: str, names: Sequence[str]) -> None:
    """CryptoError when ``names`` are more than ``profile`` allows in one certificate."""
    limit = profile_limits(profile).max_names
    if len(names) > limit:
        which = f"The profile '{profile}' allows" if profile else "A certificate may have"
        raise CryptoError(f"{which} at most {limit} hostnames; this request has {len(names)}. Split them up.")


def profile_check_offered(profile: str, offered: Mapping[str, str]) -> None:
    """CryptoError when the account's directory does not advertise ``profile`` ("" is the CA's default)."""
    if profile and profile not in offered:
        listed = ", ".join(sorted(offered)) or "none"
        raise CryptoError(f"This CA does not advertise the profile '{profile}' (offered: {listed}).")


def profile_choices(offered: Mapping[str, str]) -> list[tuple[str, str]]:
    """The New Certificate select: the CA's default first, then each profile with its description."""
    choices = [("", "CA's default")]
    for name, description in sorted(offered.items()):
        text = str(description).strip()
        choices.append((name, f"{name} — {text}" if text else name))
    return choices
