"""The audit log: who did what, to what, when and from where (AuditEvent rows, shown at /audit/).

Every action that changes something calls ``audit_record`` inside its own transaction, Zulip's way: the row
commits with the change or not at all, so the log cannot miss an action nor record one that was rolled back.

Who acted is passed in by the action (``actor``, the logged-in user that its view gave it). What acted when nobody
is logged in, and the client's address, are properties of the entry point rather than of any one action, so the
entry point states them once for everything it calls (``acting_as``): the request middleware (the address), the
management commands' base ("cli:<command>"), the Celery task base ("worker"). Outside all of them it is "system".
"""
