"""DNS-01 over RFC 2136: the zones the panel may change (providers), where a challenge record goes, publishing and
removing it, and waiting until every nameserver serves it.

Pure protocol rooms (dnspython, no Django; tests/test_import_graph.py holds them to it): ``names`` (what an admin
types), ``rfc2136`` (TSIG-signed TXT add/delete), ``zones`` (SOA zone discovery, CNAME chains and the CNAME check),
``propagation`` (every nameserver serves the value). On top, with the database: ``providers`` (add, delete, the
unsealed connection), ``targets`` (``_acme-challenge.<name>`` after its CNAMEs, and the provider holding it),
``records`` (DnsChallengeRecord rows: publish, remove, cleanup per order, the orphan sweep hook), ``checks``
(`dns test` and the Test button), ``forms``/``views``/``urls`` (Settings → DNS providers).
"""
