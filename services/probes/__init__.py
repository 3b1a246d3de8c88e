"""Proving which certificate each port of a server really serves: the only sockets the panel opens itself (the CA,
AIA downloads, SMTP and the broker are reached through their client libraries).

Read it like a table of contents; each module imports only those above it (and ``repository.pki`` for the
certificate facts, ``services.protocols`` for the dialogue each protocol speaks):

- ``starttls``  the plaintext openings of SMTP, IMAP, POP3, FTP and LDAP up to the moment TLS begins: pure readers
                over a ``recv`` callable, bounded buffers, one admin-readable sentence per failure.
- ``tls``       the socket: resolve and connect within the deadline, speak the dialogue, the TLS handshake, and
                the chain exactly as the server sent it.
- ``report``    ``ProbeResult``: the served chain judged against the assigned certificate, the name and the clock.
- ``run``       ``probe`` (one port) and ``probe_many`` (every port at once): where callers start.

No Django here: callers pass plain values and store the result themselves (services/verification.py).
"""
