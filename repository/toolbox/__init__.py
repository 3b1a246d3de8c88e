"""The toolbox page (``/toolbox/``): decode, match, verify and convert pasted data, like an admin's `openssl`.

Nothing submitted here is stored, logged or fetched from the network.

- ``tools``  the four tools, pure (``repository.pki`` underneath): ``decode``, ``key_matches``, ``verify``,
             ``convert``.
- ``forms``  one form per tool.
- ``views``  the one page, routed by ``urls`` (URL name ``toolbox``).
"""
