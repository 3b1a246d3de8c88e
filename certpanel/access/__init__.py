"""Who may in, and proof of it: the client address behind trusted proxies (``client_address``), two-factor login
(``twofactor`` over django-otp, its pages in ``views``, the ``gate`` middleware that holds a session at the code
step), and re-authentication before a key leaves or a listener's paths change (``reauth``)."""
