"""ACME: certificates from an RFC 8555 CA (Let's Encrypt or any other), validated over HTTP-01, and their renewal.

Read it in this order:

    client.py          the only importer of `acme`/`josepy`: RFC 8555 requests made robust for real CAs
    problems.py        ACME problem documents as AcmeError, in words an admin can act on
    accounts.py        register an account at a directory; open a session for one
    orders.py          the order state machine (TRANSITIONS), its leases and hand-over; ordering a renewal
    outcomes.py        what an issued order stores: the certificate, in the old one's place for a renewal
    schedule.py        when to renew: pure arithmetic on a lifetime or an ARI window (no Django)
    renewals.py        a certificate's renewal timetable: first plan, ARI window, backoff after a failure
    selectors.py       reads: what the sweeps pick up, what the pages show
    sweep_watch.py     the renewal sweep's heartbeat, and the alarm when it stops
    certbot_import.py  take over an existing certbot tree (/etc/letsencrypt)
    forms.py, views.py, urls.py   the Let's Encrypt tab, order progress, the account form, the HTTP-01 responder
    cli.py             `manage.py certs issue|renew|import-certbot`

The tasks that drive orders and the sweeps are repository/tasks.py's; expiry warnings for every certificate,
ACME or not, are repository/expiry.py's.
"""
