"""The pure certificate logic: keys, certificates, CSRs and chains, with no Django and no database.

Read it like a table of contents; each module imports only those above it (and ``repository.errors``
for ``CryptoError``, the one error it raises):

- ``der``       a bounded DER/BER reader, to look at raw names and password-hashing costs before cryptography does.
- ``dates``     time as certificates count it: now in UTC, whole days left, a date in UTC for an admin.
- ``keytypes``  the key types the panel handles: ``PrivateKey``/``PublicKey`` annotations, codes and labels.
- ``limits``    what one upload may cost: certificates per upload, signature checks, key sizes, PKCS#12 and
                encrypted-key iteration counts; each refused with an admin sentence.
- ``safe``      the one way to read a loaded certificate or CSR (key, extensions, names, dates): every lazy
                cryptography failure becomes a ``CryptoError`` saying what the panel cannot read.
- ``match``     whether a key, certificate and CSR carry the same public key.
- ``hostnames`` hostname and IP address normalisation (IDNA, wildcards) for certificate names; whether a
                certificate covers a name (RFC 6125), as a client connecting to it decides.
- ``chain``     ordering an upload into leaf + path (issuers looked up by name, never pairwise), verifying it,
                what is missing, AIA URLs; checking a chain exactly as a server sends it.
- ``rc2``       RC2-CBC decryption (RFC 2268) for legacy PKCS#12 exports; ``cryptography`` has 128-bit RC2 only.
- ``pkcs12``    reading PKCS#12 ourselves: every password hashing charged to a budget before it runs, even inside
                encrypted parts, and the key handed back unchecked by OpenSSL's slow RSA test.
- ``parse``     reading uploads: PEM/DER/PKCS#7 certificates, bundles, PKCS#12, CSRs, private keys;
                ``guard``, which turns stray cryptography exceptions into ``CryptoError``.
- ``generate``  new private keys, self-signed certificates and CSRs.
- ``describe``  what a certificate, CSR or key says (names, dates, fingerprints, usages), for display,
                and a certificate as the labelled rows the toolbox and the certificate page show.
- ``convert``   writing out: PEM, DER, PKCS#12, and the toolbox's any-to-any conversion.
"""
