"""Test harnesses: the real parts tests start and drive. No tests live here (pytest collects only test_*.py).

- acme_stack: the panel's real ACME path: Pebble + challtestsrv, the panel's HTTP-01 responder and a Celery worker.
- challenge_gate: holds Pebble's HTTP-01 validation at a known point, so a test acts there instead of racing a timer.
- daemons: real TLS daemons from Debian (dovecot, postfix, vsftpd, slapd, nginx) on free loopback ports.
- factories: test PKI (keys, CAs, certificates, PEM/DER) built at test time with `cryptography`.
- panel_world: a whole panel (`manage.py runpanel`) on the embedded or PostgreSQL + Redis stack (tests, bench/).
- pebble: Debian's Pebble (ACME test CA) and pebble-challtestsrv (its DNS) on free loopback ports.
- probe_servers: small TLS servers (implicit and STARTTLS, Python's ssl) on loopback for the probe tests.
- processes: start a real process (web server, Celery worker) against the test database; wait_for, free_port.
- redis_server: a private redis-server for a test that stops and starts its broker.
- runtime_panel: the panel as an admin runs it from the runtime venv, through its CLI and HTTP (the smoke stage).
- smtp: SmtpSink, an aiosmtpd server on a free port that collects what it receives.
- tls_files: a TLS port that serves whatever certificate and key are on disk at each handshake.

The harnesses' own tests are tests/test_pebble_harness.py and tests/test_daemon_harness.py.
"""
