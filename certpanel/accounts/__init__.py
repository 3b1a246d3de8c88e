"""Users and their roles in the panel (not Django's admin): the Users pages (``views``, admins only), the writes
(``actions``: one transaction each, the guard rails inside), the list (``selectors``). Roles: certpanel/roles.py."""
