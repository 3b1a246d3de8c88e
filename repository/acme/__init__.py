"""ACME: certificates from an RFC 8555 CA, and their renewal."""
