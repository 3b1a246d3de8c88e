"""The main menu: the sections a user may open, the one a page belongs to marked."""

from __future__ import annotations

from django.test import Client


def _menu(client: Client, url: str) -> str:
    page = client.get(url).content.decode()
    return page[page.index('<nav aria-label="Main">') : page.index("</nav>")]


def test_the_menu_marks_the_section_of_a_page_deep_inside_it(staff_client: Client) -> None:
    menu = _menu(staff_client, "/certificates/letsencrypt/")
    assert 'class="active" aria-current="page">Repository<' in menu
    assert menu.count('aria-current="page"') == 1


def test_a_settings_form_with_errors_keeps_settings_marked(staff_client: Client) -> None:
    page = staff_client.post("/settings/acme-account/", {"preset": "custom", "directory_url": ""}).content.decode()
    menu = page[page.index('<nav aria-label="Main">') : page.index("</nav>")]
    assert 'aria-current="page">Settings<' in menu


def test_only_admins_see_users(staff_client: Client, viewer_client: Client) -> None:
    assert ">Users<" in _menu(staff_client, "/settings/")
    assert ">Users<" not in _menu(viewer_client, "/settings/")
    assert "(read-only)" in viewer_client.get("/settings/").content.decode()
