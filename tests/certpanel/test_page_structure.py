"""Every page an admin opens has the same bones: a skip link to the content, the current section marked for
assistive technology, table headers with a scope, and a label for every control."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from django.test import Client

from repository.actions import certificate_create_self_signed
from services.models import Listener

CONTROLS = {"input", "select", "textarea"}
UNLABELLED_INPUTS = {"hidden", "submit", "button", "reset", "image"}


@dataclass
class Bones(HTMLParser):
    skip_links: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    th_without_scope: int = 0
    controls: list[tuple[str, str]] = field(default_factory=list)  # (id, description) of unlabelled candidates
    label_for: set[str] = field(default_factory=set)
    _label_depth: int = 0
    _in_current: bool = False

    def __post_init__(self) -> None:
        super().__init__()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: value or "" for name, value in attrs}
        if tag == "a" and "skip-link" in a.get("class", ""):
            self.skip_links.append(a.get("href", ""))
        if a.get("aria-current") == "page":
            self._in_current = True
            self.current.append("")
        if tag == "th" and "scope" not in a:
            self.th_without_scope += 1
        if tag == "label":
            self._label_depth += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        labelled = self._label_depth or a.get("aria-label") or a.get("aria-labelledby")
        if tag in CONTROLS and a.get("type", "text") not in UNLABELLED_INPUTS and not labelled:
            self.controls.append((a.get("id", ""), f"<{tag} name={a.get('name')!r}>"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._label_depth -= 1
        if tag == "a":
            self._in_current = False

    def handle_data(self, data: str) -> None:
        if self._in_current:
            self.current[-1] += data.strip()

    def unlabelled(self) -> list[str]:
        return [description for id_, description in self.controls if not id_ or id_ not in self.label_for]


def bones(client: Client, url: str) -> Bones:
    response = client.get(url)
    assert response.status_code == 200, url
    parsed = Bones()
    parsed.feed(response.content.decode())
    return parsed


@pytest.fixture
def furnished(db: None) -> dict[str, str]:
    entry = certificate_create_self_signed(hostname="mail.example.com", key_type="ec256")
    listener = Listener.objects.create(name="IMAPS", protocol="imaps", port=993, daemon="files", certificate=entry)
    return {"certificate": str(entry.pk), "listener": str(listener.pk)}


PAGES = [
    ("/", "Dashboard"),
    ("/jobs/", "Jobs"),
    ("/audit/", "Audit log"),
    ("/certificates/", "Repository"),
    ("/certificates/{certificate}/", "Repository"),
    ("/certificates/letsencrypt/", "Repository"),
    ("/certificates/letsencrypt/new/", "Repository"),
    ("/certificates/new/self-signed/", "Repository"),
    ("/services/", "Services"),
    ("/services/{listener}/", "Services"),
    ("/services/{listener}/select/", "Services"),
    ("/services/{listener}/delete/", "Services"),
    ("/services/replace/?from={certificate}", "Services"),
    ("/toolbox/", "Toolbox"),
    ("/settings/", "Settings"),
    ("/settings/dns-providers/", "Settings"),
    ("/users/", "Users"),
    ("/users/add/", "Users"),
]


@pytest.mark.parametrize(("url", "section"), PAGES)
def test_every_page_has_a_skip_link_a_current_section_scoped_headers_and_labels(
    staff_client: Client, furnished: dict[str, str], url: str, section: str
) -> None:
    page = bones(staff_client, url.format(**furnished))
    assert page.skip_links == ["#content"]
    assert section in page.current, f"the menu marks {section} as the current page"
    assert page.th_without_scope == 0, "every table header says whether it heads a row or a column"
    assert page.unlabelled() == [], "every control has a label"
